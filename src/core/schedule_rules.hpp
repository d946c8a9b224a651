// Scheduled entry triggers (segment and date, run by pg_cron through
// journey.run_entry_trigger): who enters on a run. The pg layer reads the
// audience and the trigger's state, core decides, SQL writes.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/condition_sql.hpp"
#include "core/duration.hpp"
#include "core/json.hpp"

namespace pgj::core {

// A segment enrolls the customers newly matching since its last run: the keys
// matching now (`matching`, in the segment's order) that were not members
// after the last run enter, in that order; members no longer matching leave
// (and enter again when they match again).
struct SegmentChanges {
  std::vector<std::string> entering;
  std::vector<std::string> leaving;
};
SegmentChanges segment_changes(const std::vector<std::string>& matching,
                               const std::vector<std::string>& members);

// The "schedule" of a scheduled (segment or date) entry trigger of type
// `type`: a cron expression (is_valid_cron), the one reading of it (the
// validator reports its problems, appended to `problems`; journey._sync_schedules
// gives it to pg_cron); nullopt when it is not one. Whether the installed
// pg_cron takes it is the validator's (ValidationEnv::check_schedule).
std::optional<std::string> check_trigger_schedule(const Json& config, const std::string& type,
                                                  std::vector<std::string>& problems);
// The same for a published trigger's: throws Error (22023) with the first
// problem.
std::string trigger_schedule(const Json& config, const std::string& type);

// A date entry trigger ({"type": "date", "field", "offset", "recurring"}),
// compiled: the timestamp or date column, the offset added to it (none: 0),
// and whether the date recurs every year (its anniversaries).
struct DateTrigger {
  std::string field;
  Duration offset;
  bool yearly = false;
};
// The one parser of a date trigger's config: checks it and compiles it as far
// as it goes, appending each problem to `problems` in the words the validator
// reports (validate_journey calls it, then checks the field's column against
// the audience). "field" must be a column name; "offset" and "recurring" are
// optional, but when present (null included) "offset" must be a duration and
// "recurring" must be "yearly": null is not "absent", as for every key of a
// step config (the validator refused "recurring": null since 0.1).
DateTrigger check_date_trigger(const Json& config, std::vector<std::string>& problems);
// The same for a config that must compile (a published trigger's): throws
// Error (22023) with the first problem, the validator's issue.
DateTrigger compile_date_trigger(const Json& config);

// A segment entry trigger ({"type": "segment", "schedule", "when" | "query"}),
// compiled: its members are the customers its condition matches ("when", a
// condition on the audience row, rendered by condition_to_sql) or the keys its
// SQL query returns (run as the journey owner); exactly one is set.
struct SegmentTrigger {
  std::optional<Json> when;
  std::optional<std::string> query;
};
// The one parser of a segment trigger's config (as check_date_trigger): exactly
// one of "when" and "query", the query a non-empty string. The condition itself
// is checked by the condition compiler (the validator, condition_to_sql).
SegmentTrigger check_segment_trigger(const Json& config, std::vector<std::string>& problems);
// The same for a config that must compile: throws Error (22023) with the first
// problem.
SegmentTrigger compile_segment_trigger(const Json& config);

// The SQL boolean over the audience table aliased "t" that says a customer's
// date is due on a run: field + offset in (since, now], where now is $2 and
// since is $1, the last run (null on the first run: one day before now, so a
// new trigger catches the day it missed). A yearly date is due on its
// anniversary (the date itself, then every year; a February 29 falls on
// February 28 in other years) + offset: the anniversaries of last, this and
// next year (of now's year) are candidates, so an offset may cross New Year;
// ±infinity has none. Calendar arithmetic (months, days, years) is
// PostgreSQL's, in the session's time zone, as for every other date the
// engine compares.
std::string date_due_sql(const DateTrigger& trigger, const SqlQuoting& quoting);

}  // namespace pgj::core
