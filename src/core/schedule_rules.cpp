// Who a scheduled entry trigger enrolls on a run (schedule_rules.hpp).
#include "core/schedule_rules.hpp"

#include <unordered_set>

#include "core/error.hpp"
#include "core/validator.hpp"

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

namespace {

// What a check_* compiled, when it found no problem; else throws the first
// problem (22023), with the others as detail.
template <typename T>
T unless_refused(T compiled, const std::vector<std::string>& problems) {
  if (problems.empty()) return compiled;
  std::string detail;
  for (size_t i = 1; i < problems.size(); ++i) detail += (i > 1 ? "\n" : "") + problems[i];
  throw Error(sqlstate::kInvalidParameter, problems.front(), detail);
}

}  // namespace

std::optional<std::string> check_trigger_schedule(const Json& config, const std::string& type,
                                                  std::vector<std::string>& problems) {
  const std::string what = type + " entry trigger";
  const Json s = config.is_object() && config.contains("schedule") ? config["schedule"] : Json();
  if (s.is_null()) {
    problems.push_back(what + " needs \"schedule\" (a cron expression like \"0 9 * * *\")");
    return std::nullopt;
  }
  if (!s.is_string()) {
    problems.push_back("\"schedule\" of " + what + " must be a cron expression string");
    return std::nullopt;
  }
  std::string error;
  if (!is_valid_cron(s.get<std::string>(), &error)) {
    problems.push_back(error);
    return std::nullopt;
  }
  return s.get<std::string>();
}

std::string trigger_schedule(const Json& config, const std::string& type) {
  std::vector<std::string> problems;
  return *unless_refused(check_trigger_schedule(config, type, problems), problems);
}

DateTrigger check_date_trigger(const Json& config, std::vector<std::string>& problems) {
  const std::string what = "date entry trigger";
  DateTrigger t;
  const bool object = config.is_object();
  if (!object || !config.contains("field")) {
    problems.push_back(what + " needs \"field\" (a timestamp or date column)");
  } else if (!config["field"].is_string() ||
             config["field"].get_ref<const std::string&>().empty()) {
    problems.push_back("\"field\" must be a column name");
  } else {
    t.field = config["field"].get<std::string>();
  }
  if (object && config.contains("offset")) {
    std::optional<Duration> offset = check_duration(config["offset"], "offset", false, problems);
    if (offset) t.offset = *offset;
  }
  if (object && config.contains("recurring")) {
    t.yearly = config["recurring"] == "yearly";
    if (!t.yearly)
      problems.push_back("\"recurring\" of " + what +
                         " must be \"yearly\" (anniversaries) or absent");
  }
  return t;
}

DateTrigger compile_date_trigger(const Json& config) {
  std::vector<std::string> problems;
  return unless_refused(check_date_trigger(config, problems), problems);
}

SegmentTrigger check_segment_trigger(const Json& config, std::vector<std::string>& problems) {
  const std::string what = "segment entry trigger";
  SegmentTrigger t;
  const bool has_when = config.is_object() && config.contains("when");
  const bool has_query = config.is_object() && config.contains("query");
  if (has_when == has_query)
    problems.push_back(what + " needs exactly one of \"when\" (a condition) or \"query\" (SQL)");
  if (has_when) t.when = config["when"];
  if (has_query) {
    const Json& query = config["query"];
    if (query.is_string() && !query.get_ref<const std::string&>().empty())
      t.query = query.get<std::string>();
    else
      problems.push_back("\"query\" of " + what + " must be a non-empty string");
  }
  return t;
}

SegmentTrigger compile_segment_trigger(const Json& config) {
  std::vector<std::string> problems;
  return unless_refused(check_segment_trigger(config, problems), problems);
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
