// Who a scheduled entry trigger enrolls on a run (schedule_rules.hpp).
#include "core/schedule_rules.hpp"

#include <unordered_set>

#include "core/error.hpp"

namespace pgj::core {

SegmentChanges segment_changes(const std::vector<std::string>& matching,
                               const std::vector<std::string>& members) {
  SegmentChanges out;
  std::unordered_set<std::string> were(members.begin(), members.end());
  std::unordered_set<std::string> are(matching.begin(), matching.end());
  for (const std::string& key : matching)
    if (!were.count(key)) out.entering.push_back(key);
  for (const std::string& member : members)
    if (!are.count(member)) out.leaving.push_back(member);
  return out;
}

DateTrigger compile_date_trigger(const Json& config) {
  auto invalid = [](const std::string& why) {
    return Error(sqlstate::kInvalidParameter, "date entry trigger " + why);
  };
  if (!config.is_object() || !config.contains("field") || !config["field"].is_string())
    throw invalid("needs \"field\" (a timestamp or date column)");
  DateTrigger t;
  t.field = config["field"].get<std::string>();
  if (config.contains("offset") && !config["offset"].is_null()) {
    if (!config["offset"].is_string()) throw invalid("\"offset\" must be a duration");
    std::string error;
    std::optional<Duration> offset = parse_duration(config["offset"].get<std::string>(), &error);
    if (!offset) throw invalid("\"offset\": " + error);
    t.offset = *offset;
  }
  if (config.contains("recurring") && !config["recurring"].is_null()) {
    if (config["recurring"] != "yearly") throw invalid("\"recurring\" must be \"yearly\"");
    t.yearly = true;
  }
  return t;
}

std::string date_due_sql(const DateTrigger& trigger, const SqlQuoting& quoting) {
  const std::string field = "t." + quoting.identifier(trigger.field);
  const std::string offset = quoting.literal(trigger.offset.to_interval_text()) + "::interval";
  const std::string since = "coalesce($1, $2 - interval '1 day')";
  if (!trigger.yearly) {
    const std::string due = "(" + field + " + " + offset + ")";
    return due + " > " + since + " AND " + due + " <= $2";
  }
  const std::string due = "(CASE WHEN isfinite(" + field + ") THEN " + field +
                          " + make_interval(years => (extract(year from $2) - extract(year from " +
                          field + "))::int + y.k) + " + offset + " END)";
  return "EXISTS (SELECT 1 FROM (VALUES (-1), (0), (1)) y(k) WHERE " + due + " > " + since +
         " AND " + due + " <= $2)";
}

}  // namespace pgj::core
