// Scheduled entry triggers (segment and date, run by pg_cron through
// journey.run_entry_trigger): who enters on a run. The pg layer reads the
// audience and the trigger's state, core decides, SQL writes.
#pragma once
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

// A date entry trigger ({"type": "date", "field", "offset", "recurring"}),
// compiled: the timestamp or date column, the offset added to it (none: 0),
// and whether the date recurs every year (its anniversaries).
struct DateTrigger {
  std::string field;
  Duration offset;
  bool yearly = false;
};
// Compiles the config of a date trigger (validated at publish, see
// validator.cpp). Throws Error (22023) for a config that is not one.
DateTrigger compile_date_trigger(const Json& config);

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
