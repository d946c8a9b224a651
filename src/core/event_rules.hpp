// track()'s decisions, without PostgreSQL: what an event of one customer does
// to the journeys of its audience. The pg layer (src/pg/track.cpp) reads the
// audience's journeys and the customer's active enrollments, calls
// track_effects, and track() (src/sql/runtime.sql) writes the effects.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/condition.hpp"
#include "core/json.hpp"

namespace pgj::core {

// An event entry trigger or event exit rule, compiled once per version.
struct EventRule {
  std::string event;                       // the event name it takes
  std::optional<CompiledCondition> where;  // absent: every event of that name
  std::string invalid;                     // the compile error of "where", if any
  // Exit rules only:
  std::string reason;  // the exit_reason it records
  bool is_goal = false;
};

// Compiles an event's "where" (null or absent: none). A condition that does
// not compile is kept with its error, raised only when an event of its name
// comes (as 22023 "invalid event condition: ...").
EventRule compile_event_rule(const std::string& event, const Json& where);

// Whether an event matches a rule: its name, then its "where" on the properties.
// Throws Error 22023 for a rule whose "where" does not compile.
bool event_matches(const EventRule& rule, const std::string& event, const Json& properties);

// The event rules of one journey version, in their positions' order.
struct VersionEventRules {
  std::vector<EventRule> entries;  // event entry triggers
  std::vector<EventRule> exits;    // event exit rules
};

// A journey of the event's audience, with what the event carries of its entity.
struct TrackJourney {
  int64_t id = 0;
  std::string name;
  bool published = false;                      // takes new enrollments
  bool live = false;                           // published or paused: exit rules apply
  const VersionEventRules* rules = nullptr;    // of the published version (entry); may be null
  std::optional<std::string> entity_property;  // runs one enrollment per entity
  bool event_has_entity = false;               // the properties have that key
  std::optional<std::string> event_entity;     // its canonical key (core::entity_id; null:
                                               // JSON null, absent, or no entity id)
  std::string entity_problem;  // non-empty: the value is no entity id (core::entity_id), why
};

// An active enrollment of the customer in a journey of the audience.
struct TrackEnrollment {
  int64_t id = 0;
  size_t journey = 0;                        // index into the journeys
  const VersionEventRules* rules = nullptr;  // of its version
  std::optional<std::string> entity_key;
  std::string waiting_for;  // the event a wait_for_event step waits for, or ""
  int64_t entered_at = 0;   // when it entered (microseconds, the clock of occurred_at)
};

struct TrackEffects {
  struct Enter {
    int64_t journey_id = 0;
    std::optional<std::string> entity;
  };
  std::vector<Enter> entered;  // journeys the event enters the customer into, by id
  // The first entered journey that runs per entity when the event lacks it:
  // track refuses the event (nothing is recorded).
  const TrackJourney* missing_entity = nullptr;
  // The first journey that runs per entity whose entity the event sets to no
  // entity id (entity_problem) when the event concerns it: it enters the
  // journey, or ends or wakes one of its enrollments by the event's name (and
  // "where"). track refuses the event (nothing is recorded).
  const TrackJourney* invalid_entity = nullptr;
  struct Exit {
    int64_t enrollment_id = 0;
    std::string reason;
    bool is_goal = false;
  };
  std::vector<Exit> exits;     // the first matching event exit rule of each enrollment
  std::vector<int64_t> wakes;  // enrollments waiting for this event (not backdated)
};

// What an event does, per journey and enrollment of its customer:
//  - entry: a published journey enters the customer when one of its event
//    entry triggers matches (name and "where"); one that runs per entity needs
//    the entity in the properties (else missing_entity);
//  - exit: an enrollment of a published or paused journey ends by the first
//    event exit rule (in position order) that matches, unless the event
//    occurred before the enrollment entered (a backdated purchase neither
//    ends nor converts a customer who entered after it);
//  - wake-up: an enrollment waiting for the event is made due (the engine
//    judges the wait's own "where"), unless the event occurred before the
//    enrollment entered (a backdated import wakes nothing either);
// where an enrollment of a journey that runs per entity is concerned only if
// the event does not name an entity or names its entity.
// An entity value that is no entity id (an object, 1.5, ...) concerns no
// enrollment; invalid_entity names the first journey it would have entered,
// ended or woken.
TrackEffects track_effects(const std::string& event, const Json& properties,
                           const std::vector<TrackJourney>& journeys,
                           const std::vector<TrackEnrollment>& enrollments,
                           std::optional<int64_t> occurred_at = std::nullopt);

}  // namespace pgj::core
