// The execution engine's decisions, without PostgreSQL: a published journey is
// compiled once per (journey, version); the executor advances one enrollment
// step after step until it parks (delay, wait) or ends, and collects the
// effects (activity rows, messages, field updates) for the pg layer to write in
// batches. Everything the executor needs from the database comes through
// Runtime, so unit tests drive it with a fake.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/condition.hpp"
#include "core/duration.hpp"
#include "core/graph.hpp"
#include "core/json.hpp"
#include "core/schema.hpp"
#include "core/template.hpp"

namespace pgj::core {

// The default of the max_attempts setting: a failing enrollment is tried this
// many times before it ends `failed` (see policy.hpp's charge_failure).
constexpr int kDefaultMaxAttempts = 5;

// The SQLSTATE of an enrollment the engine failed for passing a visit cap
// (program_limit_exceeded), kept in journey.enrollments.last_error_code.
inline constexpr char kVisitLimitSqlstate[] = "54000";

// Settings of a published version (validated), with defaults filled in.
struct JourneySettings {
  enum class Reentry { Never, AfterExit, Always };
  Reentry reentry = Reentry::Never;
  std::optional<Duration> reentry_cooldown;
  std::string timezone = "UTC";
  struct QuietHours {
    int start_sec = 0;     // window in which no message is delivered: [start, end)
    int end_sec = 0;       // may wrap midnight (21:00 -> 08:00)
    std::string timezone;  // "" = the journey's, "customer" = the customer's
  };
  std::optional<QuietHours> quiet_hours;
  struct FrequencyCap {
    int max = 0;
    Duration per;
  };
  std::optional<FrequencyCap> frequency_cap;
  double holdout_percent = 0;
  int max_attempts = kDefaultMaxAttempts;
  int max_step_visits = 1000;   // per enrollment, over its whole life
  std::string entity_property;  // "" = one enrollment per customer
  bool transactional = false;   // its messages ignore unsubscribes (engagement_effects)
};

// Reads a settings object that passed validate_settings.
JourneySettings parse_settings(const Json& settings);

struct CompiledStep {
  std::string key;
  StepType type = StepType::Exit;
  std::vector<std::pair<std::string, int>> branches;  // branch -> target step index

  // Target step index of `branch`, or -1 when the step has no such way out.
  int target(std::string_view branch) const;

  // send_email / send
  std::string channel;        // "email" for send_email
  std::string template_name;  // empty when `payload` is used
  Json payload;               // send with payload: strings may hold merge tags
  int to_field = -1;  // send_email: column index of the address, -1 = audience e-mail column
  // delay
  enum class DelayKind { Duration, Until, UntilField };
  DelayKind delay_kind = DelayKind::Duration;
  Duration duration;           // delay duration
  int until_time_sec = 0;      // delay until: local time of day
  uint8_t until_days = 0;      // bit (1 << d) for ISO weekday d (1 = mon .. 7 = sun); 0 = any day
  std::string until_timezone;  // "" = journey's, "customer", or a zone name
  int until_field = -1;        // delay until_field: column index
  Duration offset;             // delay until_field offset (may be negative)
  // wait_for_event / wait_until
  std::string event;       // wait_for_event
  std::string message_of;  // wait_for_event: only engagement with this send step's message
  std::optional<Duration> timeout;
  // condition "if", wait_until "when", wait_for_event "where"
  std::optional<CompiledCondition> condition;
  // branch
  std::vector<std::pair<std::string, CompiledCondition>> cases;
  // split
  std::vector<std::string> variant_names;
  std::vector<double> variant_weights;
  // Another split leads here: draw by (journey, step, customer), not the
  // journey-wide draw (see pick_variant).
  bool split_draws_own = false;
  // update_field: column index -> JSON value ({"now": true} kept as written)
  std::vector<std::pair<int, Json>> set;
  // call
  std::string function;
  // call: what a simulation (journey.simulate) takes for the function's result
  // instead of calling it; nullopt: as if it returned null (context unchanged).
  std::optional<Json> simulate_result;
};

struct CompiledExitRule {
  enum class Kind { Event, Condition };
  Kind kind = Kind::Condition;
  int position = 0;                            // 0-based index in the definition's "exit" array
  std::string event;                           // Event rules
  std::optional<CompiledCondition> condition;  // Condition: "when"; Event: "where" (may be absent)
  bool is_goal = false;
  std::string name;  // the rule's "name", or "" when unnamed
};

// The exit_reason an enrollment ended by this rule records: the rule's name,
// or "exit rule exit[N]" (its place in the definition's "exit" array, as the
// validator names it) when the rule has none.
std::string exit_reason_of(const CompiledExitRule& rule);
// The same from a rule's name ("" when it has none) and 0-based position.
std::string exit_reason_of(const std::string& name, int position);

struct CompiledJourney {
  int64_t journey_id = 0;
  int32_t version = 0;
  std::string name;
  JourneySettings settings;
  std::vector<CompiledStep> steps;
  int start = -1;
  std::vector<CompiledExitRule> exit_rules;
  std::unordered_map<std::string, int> by_key;

  // Index of the step with this key, or -1.
  int find(std::string_view key) const;
};

// Compiles a published (validated) definition against its audience. Throws
// Error (XX000) if it does not compile: a validated definition always does.
CompiledJourney compile_journey(const Json& definition, const AudienceSchema& audience,
                                int64_t journey_id, int32_t version);

// Sets split_draws_own on each split another split of the journey leads to
// (compile_journey does it).
void mark_nested_splits(CompiledJourney& journey);

// A message template, compiled once.
struct TemplateDef {
  std::string name;
  std::string channel;
  std::optional<CompiledTemplate> subject;
  CompiledTemplate body;
};

// The audience columns a journey reads, sorted: its conditions (steps and exit
// rules), the merge tags of its templates and payloads, the address of its
// e-mails, the customer's time zone where a delay or quiet hours use it, and
// until_field dates. The pg layer decodes only these (a value the journey never
// reads, an 'infinity' say, cannot fail it); the others read as null.
std::vector<int> columns_read(const CompiledJourney& journey, const AudienceSchema& audience,
                              const std::map<std::string, TemplateDef>& templates);

// The send steps of a journey that address their channel's recipient column
// of the audience (no "to_field"), each as (step key, channel): the steps that
// could not reach anyone if that column were removed (journey._channels_sent,
// for _set_recipients).
std::vector<std::pair<std::string, std::string>> channels_sent(const CompiledJourney& journey);

// The templates a journey's send steps render, by name, sorted, each once
// (journey._templates_named: publish freezes them into the version).
std::vector<std::string> templates_named(const CompiledJourney& journey);

// The state of one enrollment as the pg layer loads it.
struct Enrollment {
  int64_t id = 0;
  std::string customer_id;
  std::string entity_key;
  int step = -1;                         // current step index in its version
  bool parked = false;                   // the current step's wait is armed (parked_at is set)
  int64_t parked_at = 0;                 // when it parked at the current step (micros since epoch)
  std::optional<int64_t> wait_deadline;  // wait_for_event / wait_until timeout instant
  Json context = Json::object();
  Json last_event;  // properties of the entry / last matched event (null if none)
  Json woken_by =
      Json::array();   // events track() delivered while parked: [{name, properties, occurred_at}]
  int32_t visits = 0;  // step visits so far, over the enrollment's life
  bool holdout = false;
  // Re-arm the parked step under its version's config: set by a migrating
  // publish (waits and delays follow the new version, counted from parked_at)
  // and by resume(catch_up => 'skip') (an overdue "until" delay waits for its
  // next window).
  bool rearm = false;
};

struct Visit {
  std::string step_key;
  StepType type = StepType::Exit;
  std::string branch;  // the way out taken; "" when the enrollment ended at this step without one
  int32_t visit = 0;   // the enrollment's visit number (exactly-once key of its message)
};

struct MessageOut {
  int32_t visit = 0;
  std::string step_key;
  std::string channel;
  Json payload;  // rendered: email {"to", "subject", "body", "template"}; others the template or
                 // payload
  bool holdout = false;  // the enrollment is in the holdout group: record, never deliver
  // The customer's address on the channel (the step's to_field or the audience's
  // recipient column); nullopt when the audience names no recipient column for
  // the channel.
  std::optional<std::string> recipient;
  bool no_recipient = false;  // a recipient column is named, but the customer's is null or empty
};

struct FieldUpdateOut {
  int column = -1;  // index into the audience's columns
  Json value;  // JSON literal, or the engine clock as an ISO timestamp string for {"now": true}
};

struct RunResult {
  enum class Outcome { Parked, Completed, Exited, Failed };
  Outcome outcome = Outcome::Parked;
  int step = -1;  // step it is parked at or ended at
  bool parked = false;
  int64_t parked_at = 0;
  std::optional<int64_t>
      next_run_at;  // Parked: when it is due again (nullopt: only an event wakes it)
  std::optional<int64_t> wait_deadline;
  std::string waiting_for;  // Parked at wait_for_event: the event name; else ""
  Json context = Json::object();
  Json last_event;
  int32_t visits = 0;
  std::optional<int64_t> converted_at;  // set when a goal step was visited in this run
  std::string exit_reason;              // Exited: why (exit_reason_of the rule, ...)
  bool exit_goal = false;               // Exited by a goal exit rule
  std::string error;                    // Failed: why (visit cap)
  std::string error_code;               // Failed: its SQLSTATE (kVisitLimitSqlstate)
  // The enrollment was ended by what a call step's function did (it deleted
  // the customer, fired an exit rule, exited or re-entered it): that ending
  // already wrote its final state and the activity row of the call step
  // (Runtime::before_call/after_call); `step` is that call step, `visits_log`
  // holds the visits before it, and the run went no further. outcome: Exited.
  bool ended_by_call = false;
  std::vector<Visit> visits_log;
  std::vector<MessageOut> messages;
  std::vector<FieldUpdateOut> updates;
};

// What the executor asks of the database. Methods may throw (a PostgreSQL error
// travels as a C++ exception); the executor lets it propagate.
struct Runtime {
  virtual ~Runtime() = default;
  // ts + duration, calendar-aware in time zone `zone` (months and days keep local time).
  virtual int64_t add_duration(int64_t ts, const Duration& d, const std::string& zone) = 0;
  // Whether the server knows the zone name (a customer's zone it does not
  // know is taken as missing: core::customer_zone).
  virtual bool known_zone(const std::string& /*zone*/) { return true; }
  // The first instant strictly after `after` whose local time in `zone` is
  // seconds_of_day on a weekday allowed by days (bit 1 << ISO weekday; 0 = any).
  virtual int64_t next_local_time(int64_t after, int seconds_of_day, uint8_t days,
                                  const std::string& zone) = 0;
  // Calls `function(customer_id, context)`; returns its jsonb result.
  virtual Json call_function(const std::string& function, const std::string& customer_id,
                             const Json& context) = 0;
  // Behaviour leaves: did this enrollment's customer perform `event` (after a
  // visit of `step` by this enrollment when step is non-empty) within `within`
  // before as_of (ever when nullopt)?
  virtual bool happened(const Enrollment& enrollment, const std::string& event,
                        const std::string& step, std::optional<Duration> within, int64_t as_of) = 0;
  // Behaviour leaves with "message_of": did the message this enrollment's visit
  // of step `message_of` created have engagement `kind` within `within` before
  // as_of? (journey.message_events)
  virtual bool message_happened(const Enrollment& /*enrollment*/, const std::string& /*kind*/,
                                const std::string& /*message_of*/,
                                std::optional<Duration> /*within*/, int64_t /*as_of*/) {
    return false;
  }
  // The template of that name, or nullptr.
  virtual const TemplateDef* find_template(const std::string& name) = 0;
  // Told just before a call step's function runs (not in a simulation): the
  // step, the visits the enrollment made before it and the run's context and
  // last event, so that an ending the function causes can end the enrollment
  // at this step with the state the run has reached.
  virtual void before_call(const Enrollment& /*enrollment*/, const CompiledStep& /*step*/,
                           int32_t /*visits*/, const Json& /*context*/,
                           const Json& /*last_event*/) {}
  // Asked after a call step's function returned (not in a simulation): false
  // when the enrollment is no longer active (the function ended it: that ending
  // wrote its final state and the call step's activity row), true when it runs
  // on. Then `row` may be refreshed from the customer's row as the function
  // left it, except the columns in `keep` (changed by update_field steps of
  // this run, not written yet).
  virtual bool after_call(const Enrollment& /*enrollment*/, std::vector<Value>& /*row*/,
                          const std::set<int>& /*keep*/) {
    return true;
  }
  // Whether this run is a simulation (journey.simulate): call steps do not call
  // their function, they take the step's simulate_result.
  virtual bool simulating() const { return false; }
  // Throws Error (the database's SQLSTATE and message) when audience column
  // `column` does not take `value` (not null, of the column's JSON kind): out
  // of the type's range, too long, not an enum label, a domain's check. The
  // update_field step adds its step, column and source to the message.
  virtual void check_column_value(int /*column*/, const Json& /*value*/) {}
};

// Advances one enrollment from its current step at engine time as_of, reading
// and updating the customer row `row` in memory (update_field changes are
// visible to later steps). Stops when it parks or ends, or fails it when
// max_visits_this_run visits pass without parking or the journey's
// max_step_visits is reached. Throws what Runtime throws, and Error for a call
// step whose function returns something other than a JSON object or null.
// exact_text, when given, holds per column of the row the exact text of a
// value the row holds as a float (a numeric column: conditions compare it as
// float8, merge tags render these digits instead; nullopt elsewhere).
//
// progress (optional) is kept current while the run goes: the step it is at
// and the visits it has made, so that a caller catching what the run threw
// knows the step that failed. stop_after_visits >= 0 replays a run that failed
// up to the step that failed: after that many visits the run stops there,
// active and due at as_of (the caller then charges the failure to that step).
struct RunProgress {
  int step = -1;
  int visits = 0;
};
RunResult run_enrollment(const CompiledJourney& journey, const AudienceSchema& audience,
                         const Enrollment& enrollment, std::vector<Value>& row, int64_t as_of,
                         Runtime& runtime, int max_visits_this_run = kMaxStepsPerRun,
                         const std::vector<std::optional<std::string>>* exact_text = nullptr,
                         RunProgress* progress = nullptr, int stop_after_visits = -1);

}  // namespace pgj::core
