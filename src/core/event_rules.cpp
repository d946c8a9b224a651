// track()'s decisions: which journeys an event enters, which enrollments it
// ends, which it wakes.
#include "core/event_rules.hpp"

#include <algorithm>
#include <utility>

#include "core/error.hpp"

namespace pgj::core {

EventRule compile_event_rule(const std::string& event, const Json& where) {
  EventRule rule;
  rule.event = event;
  if (where.is_null()) return rule;
  AudienceSchema no_columns;
  ConditionScope scope;
  scope.columns = false;
  scope.event = true;
  scope.where = "event condition";
  CompileResult compiled = compile_condition(where, &no_columns, scope);
  if (compiled.ok())
    rule.where = std::move(compiled.condition);
  else
    rule.invalid = compiled.errors.front();
  return rule;
}

bool event_matches(const EventRule& rule, const std::string& event, const Json& properties) {
  if (rule.event != event) return false;
  if (!rule.invalid.empty())
    throw Error(sqlstate::kInvalidParameter, "invalid event condition: " + rule.invalid);
  if (!rule.where) return true;
  EvalInput input;
  input.event = &properties;
  return evaluate(*rule.where, input);
}

namespace {

// Whether an enrollment is the one of the event's entity: always, unless its
// journey runs per entity and the event names one (then it must be its own).
bool same_entity(const TrackJourney& journey, const TrackEnrollment& enrollment) {
  if (!journey.entity_property || !journey.event_has_entity) return true;
  return enrollment.entity_key && journey.event_entity &&
         *enrollment.entity_key == *journey.event_entity;
}

bool any_matches(const std::vector<EventRule>& rules, const std::string& event,
                 const Json& properties) {
  return std::any_of(rules.begin(), rules.end(),
                     [&](const EventRule& r) { return event_matches(r, event, properties); });
}

}  // namespace

TrackEffects track_effects(const std::string& event, const Json& properties,
                           const std::vector<TrackJourney>& journeys,
                           const std::vector<TrackEnrollment>& enrollments,
                           std::optional<int64_t> occurred_at) {
  TrackEffects fx;
  std::vector<const TrackJourney*> by_id;
  for (const TrackJourney& j : journeys) by_id.push_back(&j);
  std::sort(by_id.begin(), by_id.end(),
            [](const TrackJourney* a, const TrackJourney* b) { return a->id < b->id; });
  for (const TrackJourney* j : by_id) {
    if (!j->published || !j->rules || !any_matches(j->rules->entries, event, properties)) continue;
    if (j->entity_property && !j->entity_problem.empty()) {
      if (!fx.invalid_entity) fx.invalid_entity = j;
      continue;
    }
    if (j->entity_property && !j->event_entity && !fx.missing_entity) fx.missing_entity = j;
    fx.entered.push_back({j->id, j->entity_property ? j->event_entity : std::nullopt});
  }
  std::vector<const TrackEnrollment*> ordered;
  for (const TrackEnrollment& e : enrollments) ordered.push_back(&e);
  std::sort(ordered.begin(), ordered.end(),
            [](const TrackEnrollment* a, const TrackEnrollment* b) { return a->id < b->id; });
  for (const TrackEnrollment* e : ordered) {
    const TrackJourney& j = journeys.at(e->journey);
    const bool before_entry = occurred_at && *occurred_at < e->entered_at;
    if (j.entity_property && !j.entity_problem.empty()) {
      const bool concerned =
          e->waiting_for == event ||
          (j.live && e->rules && any_matches(e->rules->exits, event, properties));
      if (concerned && !fx.invalid_entity) fx.invalid_entity = &j;
      continue;
    }
    if (!same_entity(j, *e)) continue;
    if (j.live && e->rules && !before_entry) {
      for (const EventRule& rule : e->rules->exits)
        if (event_matches(rule, event, properties)) {
          fx.exits.push_back({e->id, rule.reason, rule.is_goal});
          break;
        }
    }
    if (e->waiting_for == event && !before_entry) fx.wakes.push_back(e->id);
  }
  return fx;
}

}  // namespace pgj::core
