// Runtime policies of the engine, decided without PostgreSQL: when a message
// may be delivered (holdout, quiet hours), which messages of a batch a
// frequency cap suppresses, and what a failure does to an enrollment (retry
// with backoff, or failed after max_attempts). The pg layer reads the rows,
// calls these, and writes what they decide (src/pg/tick.cpp).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/engine.hpp"

namespace pgj::core {

// What the delivery decision needs of the calendar (the pg layer answers with
// the server's time zone database).
struct LocalClock {
  virtual ~LocalClock() = default;
  // Whether the server knows the zone name (a customer's zone that it does not
  // know is taken as missing: customer_zone).
  virtual bool known_zone(const std::string& /*zone*/) { return true; }
  // Local time of day (seconds) of instant ts in zone.
  virtual int local_seconds_of_day(int64_t ts, const std::string& zone) = 0;
  // As Runtime::next_local_time.
  virtual int64_t next_local_time(int64_t after, int seconds_of_day, uint8_t days,
                                  const std::string& zone) = 0;
};

// Whether local time of day `seconds` lies in the quiet window [start, end),
// which may wrap midnight.
bool in_quiet_window(const JourneySettings::QuietHours& quiet, int seconds);

// The customer's time zone (the setting "customer" of quiet hours and of a
// delay's "until"): the audience's time zone column when it holds a zone name
// `known` accepts (unset: every name), else `fallback` (the journey's zone). An
// empty, null or unknown value ("Mars/Olympus", a typo) is all one: no zone.
// row may be null when the customer row is not at hand.
std::string customer_zone(const AudienceSchema& audience, const std::vector<Value>* row,
                          const std::string& fallback,
                          const std::function<bool(const std::string&)>& known = {});

// The zone quiet hours are judged in: the window's own, else the journey's;
// "customer" is customer_zone.
std::string quiet_hours_zone(const JourneySettings& settings, const AudienceSchema& audience,
                             const std::vector<Value>* row,
                             const std::function<bool(const std::string&)>& known = {});

// How a message produced at `now` is delivered.
struct Delivery {
  bool suppressed = false;  // recorded, never delivered
  std::string reason;       // why suppressed: "holdout", "no_recipient", "frequency_cap"
  int64_t send_after = 0;   // not claimable before (the end of a quiet window)
};

// Holdout first (the enrollment's messages are recorded, never delivered), then
// no recipient (suppressed "no_recipient"), then quiet hours: inside the window
// the message waits for the window's end.
Delivery decide_delivery(const JourneySettings& settings, const AudienceSchema& audience,
                         const std::vector<Value>* row, bool holdout, bool no_recipient,
                         int64_t now, LocalClock& clock);

// One message of a batch as the frequency caps see it, in batch order.
struct CappedMessage {
  std::string customer;
  bool pending = true;                  // false: already suppressed, counts for nothing
  std::optional<int64_t> window_start;  // the start of its journey's cap window; nullopt: no cap
  int64_t max = 0;                      // the journey's cap
};

// Messages already counted against a customer: (window start, customer) -> count.
using EarlierMessages = std::map<std::pair<int64_t, std::string>, int64_t>;

// Which messages their journey's frequency cap suppresses: a capped message is
// suppressed when the customer's earlier messages in its window plus those this
// batch delivers before it reach the cap. Every message of the batch counts
// against its customer in every window (they are all created now).
std::vector<bool> frequency_capped(const std::vector<CappedMessage>& messages,
                                   const EarlierMessages& earlier);

// Backoff after the n-th failure (n from 1): 10 s * 2^(n-1), at most one hour.
constexpr int64_t kRetryBaseMicros = 10'000'000;
constexpr int64_t kRetryCapMicros = 3'600'000'000;

// How a journey's re-entry settings apply when a customer (and entity) is
// enrolled again; _enroll_rows applies it to a whole set of customers at once.
//   never:      an earlier enrollment, in any state, keeps the customer out;
//   after_exit: only an active one does (one active enrollment per customer);
//   always:     the active enrollment is ended (`reentered`) and a new one starts.
// An enrollment that entered within reentry_cooldown keeps the customer out
// whatever the policy (and is not replaced).
struct ReentryRule {
  bool any_earlier_blocks = true;
  bool replaces_active = false;
  std::optional<Duration> cooldown;
};
ReentryRule reentry_rule(const JourneySettings& settings);

// An earlier enrollment of the same customer (and entity) in the journey.
struct EarlierEnrollment {
  int64_t id = 0;
  bool active = false;
  int64_t entered_at = 0;
};

// What enrolling the customer again does, under `rule`, given its earlier
// enrollments; cooldown_since is now - rule.cooldown (the caller's calendar
// arithmetic), nullopt without a cooldown. An earlier enrollment that entered
// after cooldown_since keeps the customer out and is not replaced; under
// `never` any earlier one keeps it out; under `always` the active ones outside
// the cooldown are replaced; an active one not replaced keeps it out.
// Per earlier enrollment (what the SQL applies row by row): whether re-entry
// replaces it (active, outside the cooldown, under `always`), and whether it
// keeps the customer out once the replaced ones ended (`never`; inside the
// cooldown; active and not replaced).
bool reentry_replaces(const ReentryRule& rule, const EarlierEnrollment& e,
                      std::optional<int64_t> cooldown_since);
bool reentry_blocks(const ReentryRule& rule, const EarlierEnrollment& e,
                    std::optional<int64_t> cooldown_since);
struct ReentryVerdict {
  bool enroll = false;
  std::vector<int64_t> replace;  // active enrollments to end `reentered`, in id order
};
ReentryVerdict reentry_verdict(const ReentryRule& rule,
                               const std::vector<EarlierEnrollment>& earlier,
                               std::optional<int64_t> cooldown_since);

// The holdout_percent of a published journey's settings object (0, no holdout,
// when it is absent or the settings do not parse); _enroll_rows draws each new
// enrollment's holdout with it (core::in_holdout).
double holdout_percent_of(const Json& settings);

// What engagement with a message (journey.message_event: delivered, opened,
// clicked, bounced, complained, unsubscribed) does besides being recorded:
//   a suppression of the customer: an unsubscribe, a complaint, a hard bounce
//   (properties.type "hard"); of every channel for an unsubscribe with
//   properties.scope "all", else of the message's channel;
//   the end of the message's enrollment (exit reason: the kind): a complaint,
//   or an unsubscribe from a journey that is not transactional.
struct EngagementEffects {
  bool suppress = false;
  bool all_channels = false;
  bool ends_enrollment = false;
};
EngagementEffects engagement_effects(const std::string& kind, const Json& properties,
                                     const Json& settings);

// The engagement a caller may report (journey.message_event), and its checks.
const std::vector<std::string>& engagement_kinds();

// A property of a message event as SQL reads it: ->> (nullopt for JSON null)
// and -> as jsonb renders it (for the message).
struct EngagementProperty {
  std::optional<std::string> text;
  std::string rendered;
};

// Raises 22023 for engagement a caller may not report: an unknown kind (or
// none), properties that are no JSON object, a bounce "type" other than "hard"
// or "soft", an unsubscribe "scope" other than "all" or "channel" (each when
// present: nullopt is absent; JSON null is neither).
void check_engagement_input(const std::optional<std::string>& kind, bool properties_object,
                            const std::optional<EngagementProperty>& type,
                            const std::optional<EngagementProperty>& scope);

// Whether engagement may be reported for a message in this status
// (journey.messages.status): only for one handed out to a sender (claimed,
// sent, failed); a message never handed out (pending, suppressed) was not seen
// by anyone, and message_event refuses it (55000).
bool engagement_accepted(const std::string& message_status);

// Engagement that happens once to a message: delivered, a bounce of a type
// (properties.type "hard", "soft" or none), a complaint, an unsubscribe. A
// replay of it (a provider's webhook retried, the unsubscribe link followed
// twice) changes nothing: journey.message_event returns the first event. The
// key names what happened: two events of one message with equal keys are the
// same engagement. nullopt for engagement recorded every time it is reported
// (opens, clicks: each is an engagement; the waits they wake wake once).
std::optional<std::string> engagement_once_key(const std::string& kind, const Json& properties);

// Whether engagement `kind` with the message of visit `visit` of a step wakes
// the message's enrollment (a wait with "message_of" that step): only the
// message of the enrollment's latest visit of the step (`latest_visit`; a loop
// or re-entry sends the step again, and engagement with an earlier visit's
// message is recorded but wakes nothing), and only while the enrollment is
// active and waits for that kind.
bool engagement_wakes(const std::string& kind, int64_t visit, int64_t latest_visit,
                      const std::string& status, const std::optional<std::string>& waiting_for);

// Global suppressions (journey.suppressions, docs/delivery.md). A suppression
// of a customer stops the messages of its channel to that customer (of every
// channel when its channel is null), except in a journey that ignores its
// reason: a transactional journey's messages ignore 'unsubscribed'.

// The suppression reasons a journey's messages ignore, decided from its
// compiled settings; publish stores them per version
// (journey.versions.ignored_suppression_reasons), which the claim and
// add_suppression read.
std::vector<std::string> ignored_suppression_reasons(const JourneySettings& settings);
// The same for a published version's settings object (none when it is absent
// or the settings do not parse).
std::vector<std::string> ignored_suppression_reasons_of(const Json& settings);

// One suppression of a customer, as the rule sees it.
struct Suppression {
  int64_t id = 0;
  std::optional<std::string> channel;  // nullopt: every channel
  std::string reason;
  int64_t at = 0;  // when it was added
};

// Whether suppression s stops a message of `channel` of a journey whose
// messages ignore the reasons `ignored`.
bool suppression_stops(const Suppression& s, const std::string& channel,
                       const std::vector<std::string>& ignored);

// The suppression that stops a message of `channel` among the customer's
// suppressions (position in `suppressions`), or nullopt: the first that stops
// it in the order every-channel first, then by time added, then by id (the
// reason the message is recorded with).
std::optional<size_t> stopping_suppression(const std::vector<Suppression>& suppressions,
                                           const std::string& channel,
                                           const std::vector<std::string>& ignored);

// A suppression as a batch reads them: whose it is (the customer in the
// audience with journey.audiences.id `audience`) and the suppression.
struct CustomerSuppression {
  std::string customer;
  int64_t audience = 0;
  Suppression suppression;
};

// A message of a batch that suppressions may stop: its customer and audience,
// its channel, and the reasons its journey ignores.
struct MessageToCheck {
  std::string customer;
  int64_t audience = 0;
  std::string channel;
  std::vector<std::string> ignored;
};

// Per message of a batch (a claim's candidates), the reason of the suppression
// that stops it, or nullopt: stopping_suppression among the suppressions of
// its customer in its audience (`suppressions` in any order, any customers).
std::vector<std::optional<std::string>> stopping_reasons(
    const std::vector<MessageToCheck>& messages,
    const std::vector<CustomerSuppression>& suppressions);

// Why a message of `channel` is recorded suppressed when it is produced, the
// holdout aside (decide_delivery): no recipient ("no_recipient"), else the
// suppression that stops it ("suppression: <its reason>"); nullopt: it is
// pending. The tick and journey.preview decide with it.
std::optional<std::string> suppressed_reason(bool no_recipient,
                                             const std::vector<Suppression>& suppressions,
                                             const std::string& channel,
                                             const std::vector<std::string>& ignored);

// The max_attempts of a version's settings object (the default when it is
// absent or the settings do not parse).
int max_attempts_of(const Json& settings);

// What a failure does to an enrollment that had failed attempts_before times.
struct Retry {
  int attempts = 0;                    // attempts_before + 1
  bool failed = false;                 // max_attempts reached: the enrollment ends `failed`
  std::optional<int64_t> next_run_at;  // not failed: when it is tried again
};
Retry charge_failure(int attempts_before, int max_attempts, int64_t now);

// A transient failure (a deadlock the lock manager broke: not the enrollment's
// fault) is not charged: its attempts stay as they were and it is tried again
// kTransientRetryMicros after now (when transient_retry_at says). Every other
// failure, a step timeout too, is charged (charge_failure).
constexpr int64_t kTransientRetryMicros = 1'000'000;
int64_t transient_retry_at(int64_t now);

}  // namespace pgj::core
