// Journey definition validator: reports every problem at once, tied to the
// step, trigger, rule or setting it is in.
#include "core/validator.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <set>
#include <unordered_set>

#include "core/compile.hpp"
#include "core/condition.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"
#include "core/graph.hpp"
#include "core/schedule_rules.hpp"
#include "core/template.hpp"

namespace pgj::core {

namespace {

// How deep a message payload's arrays and objects may nest (the payload object
// itself is level 1).
constexpr int kMaxPayloadDepth = 100;

// s cut to at most max bytes ending in "...", at a character boundary so that
// a message stays valid UTF-8.
std::string shorten(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t cut = max - 3;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "...";
}

// Joins names with ", " and a final " or ", shortened to 200 bytes: every
// wrong branch of a step gets a message, which must not list thousands of
// cases or variants (a definition of 150 kB made 100 MB of messages).
std::string join_or(const std::vector<std::string>& v) {
  constexpr size_t kMax = 200;
  std::string out;
  for (size_t i = 0; i < v.size() && out.size() <= kMax; ++i) {
    if (i) out += (i + 1 == v.size()) ? " or " : ", ";
    out.append(v[i], 0, kMax + 1);
  }
  return shorten(std::move(out), kMax);
}

// Whether a step key matches ^[A-Za-z0-9_.-]{1,63}$.
bool valid_step_key(const std::string& k) {
  if (k.empty() || k.size() > 63) return false;
  for (char c : k)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == '-'))
      return false;
  return true;
}

// Whether a channel name matches ^[a-z][a-z0-9_-]*$ (journey._check_channel).
bool valid_channel(const std::string& ch) {
  if (ch.empty() || ch[0] < 'a' || ch[0] > 'z') return false;
  for (char c : ch)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  return true;
}

// Short text of a JSON value for messages (strings unquoted-then-quoted once).
std::string show(const Json& v) {
  return shorten(v.dump(), 60);
}

// The one parser of a journey definition: it checks every part, reporting
// each problem as an Issue, and compiles what the engine runs (steps, settings,
// exit rules) into `compiled` on the same pass. A part the engine cannot run
// with (a missing template, an unknown column, a condition that does not
// compile) makes the compiled form unusable; a rule the engine does not need
// (a positive delay, unique case names, a rule added after a version was
// published) is only reported.
struct Validator {
  const ValidationEnv& env;
  const AudienceSchema* schema = nullptr;
  std::vector<Issue> out;
  Json settings_json;  // the definition's settings (the run-length rule reads max_step_visits)
  CompiledJourney compiled;
  std::string unusable_where;  // the first part that did not compile ("" = none)
  std::string unusable_why;
  std::string unusable_code = sqlstate::kInternal;  // its SQLSTATE
  // The SQLSTATE of the error just reported: XX000 unless it says that the
  // audience lacks a column (42703) or has one of another type (42804), what a
  // table changed under a published version causes.
  std::string error_code = sqlstate::kInternal;

  void error(const std::string& key, std::string msg) {
    out.push_back(Issue{key, "error", std::move(msg)});
    error_code = sqlstate::kInternal;
  }
  // An error about an audience column: `code` is its SQLSTATE.
  void column_error(const std::string& key, std::string msg, const char* code) {
    error(key, std::move(msg));
    error_code = code;
  }

  // Marks the compiled form unusable at `where` (the first one counts), for
  // the problem just reported.
  void cannot_compile(const std::string& where) {
    const bool reported = !out.empty() && out.back().severity == "error";
    cannot_compile(where, reported ? out.back().message : "invalid definition",
                   reported ? error_code : sqlstate::kInternal);
  }
  void cannot_compile(const std::string& where, const std::string& why,
                      const std::string& code = sqlstate::kInternal) {
    if (!unusable_where.empty()) return;
    unusable_where = where;
    unusable_why = why;
    unusable_code = code;
  }

  // The audience column a compiled step reads (column() has reported what is
  // wrong with it), or -1, making the compiled form unusable.
  int compiled_column(const std::string& where, const Json& v) {
    int idx = schema && v.is_string() ? schema->find(v.get_ref<const std::string&>()) : -1;
    if (idx < 0) cannot_compile(where);
    return idx;
  }
  void warning(const std::string& key, std::string msg) {
    out.push_back(Issue{key, "warning", std::move(msg)});
  }

  // Warns about members of obj not in `known` (and not in `ignored`).
  void unknown_keys(const std::string& key, const Json& obj,
                    std::initializer_list<const char*> known, const std::string& what) {
    if (!obj.is_object()) return;
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      bool ok = false;
      for (const char* k : known)
        if (it.key() == k) ok = true;
      if (!ok) warning(key, "unknown " + what + " key " + quote_name(it.key()));
    }
  }

  // Compiles a condition and records its errors under `key`; the condition
  // when it has none.
  std::optional<CompiledCondition> condition(const std::string& key, const Json& cond,
                                             ConditionScope scope, const std::string& where) {
    scope.where = where.c_str();
    CompileResult r = compile_condition(cond, schema, scope);
    if (r.ok()) return std::move(r.condition);
    for (std::string& e : r.errors) error(key, std::move(e));
    if (r.unknown_column) error_code = sqlstate::kUndefinedColumn;
    return std::nullopt;
  }

  // Checks a duration member; returns it when it parses (even when it breaks
  // a rule reported here: the engine runs with any duration).
  std::optional<Duration> duration(const std::string& key, const Json& v, const std::string& name,
                                   bool positive) {
    std::vector<std::string> problems;
    std::optional<Duration> d = check_duration(v, name, positive, problems);
    errors(key, problems);
    return d;
  }

  // Reports each of `problems` (a compiler's, worded as issues) under `key`.
  void errors(const std::string& key, std::vector<std::string>& problems) {
    for (std::string& problem : problems) error(key, std::move(problem));
  }

  // Checks a required non-empty string member; returns it when it is a
  // string (even an empty one, which is reported), else nullopt.
  std::optional<std::string> string_member(const std::string& key, const Json& obj,
                                           const char* name, const std::string& what) {
    const Json& v = member(obj, name);
    if (v.is_null()) {
      error(key, what + " needs " + quote_name(name));
      return std::nullopt;
    }
    if (!v.is_string() || v.get_ref<const std::string&>().empty())
      error(key, quote_name(name) + " of " + what + " must be a non-empty string");
    if (!v.is_string()) return std::nullopt;
    return v.get<std::string>();
  }

  // Checks a required non-empty string member; returns it (or "").
  std::string required_string(const std::string& key, const Json& obj, const char* name,
                              const std::string& what) {
    return string_member(key, obj, name, what).value_or("");
  }

  // Checks a time zone name ("customer" allowed when allow_customer).
  void timezone(const std::string& key, const Json& v, const std::string& name,
                bool allow_customer) {
    if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
      error(key, quote_name(name) + " must be a time zone name" +
                     (allow_customer ? std::string(" or \"customer\"") : std::string()));
      return;
    }
    const std::string& z = v.get_ref<const std::string&>();
    if (allow_customer && z == "customer") return;
    if (env.is_valid_timezone && !env.is_valid_timezone(z))
      error(key, "unknown time zone " + quote_name(z) + " in " + quote_name(name));
  }

  // Checks a column reference of one of the given types; returns its index or -1.
  int column(const std::string& key, const Json& v, const std::string& name,
             std::initializer_list<ValueType> types, const char* type_words) {
    if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
      error(key, quote_name(name) + " must be a column name");
      return -1;
    }
    if (!schema) return -1;
    const std::string& c = v.get_ref<const std::string&>();
    int idx = schema->find(c);
    if (idx < 0) {
      column_error(key,
                   "column " + quote_name(c) + " (" + quote_name(name) +
                       ") does not exist in audience " + schema->relation,
                   sqlstate::kUndefinedColumn);
      return -1;
    }
    const Column& col = schema->columns[idx];
    if (std::find(types.begin(), types.end(), col.type) == types.end()) {
      column_error(key,
                   quote_name(name) + " column " + quote_name(c) + " must be " + type_words +
                       " (column type " +
                       (col.type_name.empty() ? value_type_name(col.type) : col.type_name) + ")",
                   sqlstate::kDatatypeMismatch);
      return -1;
    }
    return idx;
  }

  // Checks a template's existence and channel, and that the journey owner may
  // read every audience column it renders (the version freezes it at publish).
  void template_ref(const std::string& key, const std::string& name, const std::string& channel) {
    if (!env.template_channel) return;
    auto ch = env.template_channel(name);
    if (!ch) {
      error(key, "unknown template " + quote_name(name));
      return;
    }
    if (*ch != channel)
      error(key, "template " + quote_name(name) + " is for channel " + quote_name(*ch) + ", not " +
                     quote_name(channel));
    if (env.template_tags)
      for (const std::string& tag : env.template_tags(name))
        rendered_column(key, tag, "template " + quote_name(name));
    if (env.template_columns)
      for (const std::string& column : env.template_columns(name))
        required_column(key, column, "template " + quote_name(name));
  }

  // A merge tag without a default that names an audience column: the audience
  // must have it (else every message renders nothing there: a typo such as
  // {{frist_name}}).
  void required_column(const std::string& key, const std::string& column, const std::string& what) {
    if (schema && schema->find(column) < 0)
      error(key, what + " renders column " + quote_name(column) + ", which audience " +
                     schema->relation + " does not have");
  }

  // A merge tag or address that renders an audience column: the journey owner
  // must be allowed to read it (messages are readable by journey_reader).
  void rendered_column(const std::string& key, const std::string& path, const std::string& what) {
    if (!schema || !env.check_read_column || schema->find(path) < 0) return;
    std::string why = env.check_read_column(path);
    if (!why.empty()) error(key, what + " renders column " + quote_name(path) + ": " + why);
  }

  // Checks merge-tag syntax in every string of a payload, and the columns it
  // renders. Nesting is bounded (kMaxPayloadDepth): the walk is recursive, and
  // a file nested 100,000 deep would overflow the stack of journeyctl.
  void payload_strings(const std::string& key, const Json& v, int depth = 1) {
    if (depth > kMaxPayloadDepth) {
      error(key, "payload nested too deeply (more than " + std::to_string(kMaxPayloadDepth) +
                     " levels of arrays and objects)");
      return;
    }
    if (v.is_string()) {
      for (const std::string& e : template_errors(v.get_ref<const std::string&>()))
        error(key, "payload: " + e);
      CompiledTemplate text = compile_template(v.get_ref<const std::string&>());
      for (const std::string& tag : tags_of(text)) rendered_column(key, tag, "payload");
      if (env.template_columns)
        for (const std::string& column : required_columns(text))
          required_column(key, column, "payload");
    } else if (v.is_array() || v.is_object()) {
      for (const Json& e : v) {
        payload_strings(key, e, depth + 1);
        if (depth + 1 > kMaxPayloadDepth) break;  // one error, not one an element
      }
    }
  }

  // -------------------------------------------------------------------------
  // Settings.

  // Checks the settings object and compiles it into compiled.settings (what is
  // not an object reads as the defaults).
  void settings(const Json& s) {
    if (s.is_null()) return;
    if (!s.is_object()) {
      error("settings", "settings must be a JSON object");
      return;
    }
    for (auto it = s.begin(); it != s.end(); ++it) setting(it.key(), *it, compiled.settings);
  }

  // A setting the engine cannot read: null reads as its default, anything else
  // makes the compiled form unusable (the issue is reported already).
  void setting_unusable(const Json& v) {
    if (!v.is_null()) cannot_compile("settings");
  }

  // Checks one setting `k` and compiles it into `out`.
  void setting(const std::string& k, const Json& v, JourneySettings& out) {
    const std::string key = "settings";
    if (k == "reentry") {
      if (v == "never") {
        out.reentry = JourneySettings::Reentry::Never;
      } else if (v == "after_exit") {
        out.reentry = JourneySettings::Reentry::AfterExit;
      } else if (v == "always") {
        out.reentry = JourneySettings::Reentry::Always;
      } else {
        error(key, "invalid reentry " + show(v) + " (expected never, after_exit or always)");
        setting_unusable(v);
      }
    } else if (k == "reentry_cooldown") {
      std::optional<Duration> d = duration(key, v, "reentry_cooldown", true);
      if (d)
        out.reentry_cooldown = d;
      else
        setting_unusable(v);
    } else if (k == "timezone") {
      timezone(key, v, "timezone", false);
      if (v.is_string())
        out.timezone = v.get<std::string>();
      else
        setting_unusable(v);
    } else if (k == "quiet_hours") {
      quiet_hours(v, out);
    } else if (k == "frequency_cap") {
      frequency_cap(v, out);
    } else if (k == "holdout_percent") {
      if (!v.is_number() || !(v.get<double>() >= 0 && v.get<double>() < 100))
        error(key, "holdout_percent must be a number from 0 to less than 100, got " + show(v));
      if (v.is_number())
        out.holdout_percent = v.get<double>();
      else
        setting_unusable(v);
    } else if (k == "max_attempts" || k == "max_step_visits") {
      const int64_t most = k == "max_attempts" ? 100 : 100000;
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > most)
        error(key,
              k + " must be an integer from 1 to " + std::to_string(most) + ", got " + show(v));
      if (v.is_number_integer())
        (k == "max_attempts" ? out.max_attempts : out.max_step_visits) = v.get<int>();
      else
        setting_unusable(v);
    } else if (k == "entity_property") {
      if (!v.is_string() || v.get_ref<const std::string&>().empty())
        error(key, "entity_property must be a non-empty string");
      if (v.is_string())
        out.entity_property = v.get<std::string>();
      else
        setting_unusable(v);
    } else if (k == "transactional") {
      if (!v.is_boolean()) error(key, "transactional must be true or false, got " + show(v));
      if (v.is_boolean()) out.transactional = v.get<bool>();
    } else {
      warning(key, "unknown setting " + quote_name(k));
    }
  }

  // Checks the quiet_hours setting and compiles it into out.quiet_hours.
  void quiet_hours(const Json& v, JourneySettings& out) {
    const std::string key = "settings";
    if (!v.is_object()) {
      error(key, "quiet_hours must be an object {\"start\": \"21:00\", \"end\": \"08:00\"}");
      setting_unusable(v);
      return;
    }
    std::optional<int> times[2];
    const char* names[2] = {"start", "end"};
    for (int i = 0; i < 2; ++i) {
      const Json& t = member(v, names[i]);
      std::string err;
      if (t.is_null())
        error(key, std::string("quiet_hours needs \"") + names[i] + "\" (HH:MM)");
      else if (!t.is_string() || !(times[i] = parse_time_of_day(t.get<std::string>(), &err)))
        error(key, std::string("quiet_hours \"") + names[i] +
                       "\": " + (err.empty() ? "must be a time of day like \"21:00\"" : err));
      if (!times[i]) cannot_compile(key);
    }
    if (times[0] && times[1] && *times[0] == *times[1])
      error(key, "quiet_hours start and end must differ");
    if (v.contains("timezone")) timezone(key, v["timezone"], "quiet_hours.timezone", true);
    unknown_keys(key, v, {"start", "end", "timezone"}, "quiet_hours");
    if (!times[0] || !times[1]) return;
    JourneySettings::QuietHours qh;
    qh.start_sec = *times[0];
    qh.end_sec = *times[1];
    if (member(v, "timezone").is_string()) qh.timezone = v["timezone"].get<std::string>();
    out.quiet_hours = qh;
  }

  // Checks the frequency_cap setting and compiles it into out.frequency_cap.
  void frequency_cap(const Json& v, JourneySettings& out) {
    const std::string key = "settings";
    if (!v.is_object()) {
      error(key, "frequency_cap must be an object {\"max\": 3, \"per\": \"1 day\"}");
      setting_unusable(v);
      return;
    }
    const Json& max = member(v, "max");
    if (!max.is_number_integer() || max.get<int64_t>() < 1 ||
        max.get<int64_t>() > std::numeric_limits<int32_t>::max())
      error(key, "frequency_cap \"max\" must be a positive integer");
    if (!max.is_number_integer()) cannot_compile(key);
    const Json& per = member(v, "per");
    std::optional<Duration> d;
    if (per.is_null())
      error(key, "frequency_cap needs \"per\" (a duration like \"1 day\")");
    else
      d = duration(key, per, "frequency_cap.per", true);
    if (!d) cannot_compile(key);
    unknown_keys(key, v, {"max", "per"}, "frequency_cap");
    if (max.is_number_integer() && d)
      out.frequency_cap = JourneySettings::FrequencyCap{max.get<int>(), *d};
  }

  // -------------------------------------------------------------------------
  // Entry triggers and exit rules.

  void entry_triggers(const Json& entry) {
    if (entry.is_null()) return;
    if (!entry.is_array()) {
      error("", "\"entry\" must be an array of entry triggers");
      return;
    }
    for (size_t i = 0; i < entry.size(); ++i) {
      const std::string key = "entry[" + std::to_string(i) + "]";
      const Json& t = entry[i];
      if (!t.is_object()) {
        error(key, "entry trigger must be a JSON object");
        continue;
      }
      const Json& type = member(t, "type");
      if (!type.is_string()) {
        error(key, "entry trigger needs a \"type\" (event, attribute, segment, date or manual)");
        continue;
      }
      const std::string ty = type.get<std::string>();
      const std::string what = ty + " entry trigger";
      if (ty == "event") {
        required_string(key, t, "event", what);
        if (t.contains("where")) {
          ConditionScope sc;
          sc.columns = false;
          sc.event = true;
          condition(key, t["where"], sc, "the \"where\" of " + key);
        }
        unknown_keys(key, t, {"type", "event", "where"}, "entry trigger");
      } else if (ty == "attribute") {
        if (!t.contains("when")) {
          error(key, what + " needs \"when\" (a condition on the audience row)");
        } else {
          ConditionScope sc;
          sc.trigger_ops = true;
          condition(key, t["when"], sc, "the \"when\" of " + key);
        }
        unknown_keys(key, t, {"type", "when"}, "entry trigger");
      } else if (ty == "segment") {
        schedule(key, t, ty);
        // Its shape is compile_segment_trigger's (one parser); the condition
        // and the query are checked against the audience and the owner here.
        std::vector<std::string> problems;
        SegmentTrigger segment = check_segment_trigger(t, problems);
        errors(key, problems);
        if (t.contains("when"))
          condition(key, t["when"], ConditionScope{}, "the \"when\" of " + key);
        if (segment.query && env.check_segment_query) {
          std::string why = env.check_segment_query(*segment.query);
          if (!why.empty())
            error(key, "\"query\" of " + what + " does not plan as the journey owner: " + why);
        }
        unknown_keys(key, t, {"type", "schedule", "when", "query"}, "entry trigger");
      } else if (ty == "date") {
        schedule(key, t, ty);
        // Its config is compile_date_trigger's (one parser); the field's
        // column is checked against the audience here.
        // (The column first: the field's issues come before the offset's.)
        std::vector<std::string> problems;
        DateTrigger date = check_date_trigger(t, problems);
        if (!date.field.empty())
          column(key, t["field"], "field", {ValueType::Timestamp, ValueType::Date},
                 "a timestamp or date column");
        errors(key, problems);
        unknown_keys(key, t, {"type", "schedule", "field", "offset", "recurring"}, "entry trigger");
      } else if (ty == "manual") {
        unknown_keys(key, t, {"type"}, "entry trigger");
      } else {
        error(key, "unknown entry trigger type " + quote_name(ty) +
                       " (expected event, attribute, segment, date or manual)");
      }
    }
  }

  // Checks the cron "schedule" of a scheduled trigger of type `type`: its
  // syntax is check_trigger_schedule's (schedule_rules.hpp), whether the
  // installed pg_cron takes it the env's.
  void schedule(const std::string& key, const Json& t, const std::string& type) {
    std::vector<std::string> problems;
    std::optional<std::string> s = check_trigger_schedule(t, type, problems);
    errors(key, problems);
    if (s && env.check_schedule) {
      std::string why = env.check_schedule(*s);
      if (!why.empty())
        error(key, "schedule " + quote_name(*s) + " of " + type +
                       " entry trigger is refused by the installed pg_cron: " + why);
    }
  }

  // An exit rule's optional "name": the exit_reason of the enrollments it
  // ends, so it must read as one: 1 to 63 characters, unique among the rules,
  // and none of the reasons pg_journey itself records.
  void exit_rule_name(const std::string& key, const Json& r, std::set<std::string>& names) {
    if (!r.contains("name") || r["name"].is_null()) return;
    if (!r["name"].is_string()) {
      error(key, "\"name\" of an exit rule must be a string");
      return;
    }
    const std::string name = r["name"].get<std::string>();
    // Characters, not bytes: UTF-8 continuation bytes do not count.
    size_t characters = 0;
    for (unsigned char c : name) characters += (c & 0xC0) != 0x80;
    if (characters == 0 || characters > 63) {
      error(key, "\"name\" of an exit rule must have 1 to 63 characters");
      return;
    }
    // Reserved words in any case ("Manual" reads as "manual" in a report);
    // "manual: ..." is how journey.exit() records its reason.
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const char* reserved : {"archived", "manual", "reentered", "customer_deleted"})
      if (lower == reserved)
        error(key, "exit rule name " + quote_name(name) +
                       " is an exit reason pg_journey records itself (archived, manual, "
                       "reentered, customer_deleted)");
    if (lower.rfind("manual:", 0) == 0)
      error(key, "exit rule name " + quote_name(name) +
                     " must not start with \"manual:\" (the reasons of journey.exit())");
    if (lower.rfind("exit rule ", 0) == 0)
      error(key, "exit rule name " + quote_name(name) + " must not start with \"exit rule \"");
    if (!names.insert(name).second)
      error(key, "exit rule name " + quote_name(name) + " is used twice");
  }

  // Names of split variants and branch cases must not start with "(": the reports
  // name their own groups that way ("(holdout)", "(journey)", "(end)", "(exited)",
  // "(failed)"), and a variant or case of the same name would be counted with them.
  void reserved_outcome_names(const JourneyGraph& g, const std::string& journey) {
    for (const GraphStep& s : g.steps) {
      if (!s.type || (*s.type != StepType::Split && *s.type != StepType::Branch)) continue;
      const bool split = *s.type == StepType::Split;
      const Json& list = member(s.config, split ? "variants" : "cases");
      if (!list.is_array()) continue;
      for (const Json& item : list) {
        const Json& name = member(item, "name");
        if (!name.is_string() || name.get_ref<const std::string&>().rfind('(', 0) != 0) continue;
        error(s.key, std::string(split ? "variant" : "case") + " name " +
                         quote_name(name.get<std::string>()) + " of step " + quote_name(s.key) +
                         " in journey " + quote_name(journey) +
                         " must not start with \"(\" (the reports name their own groups so: "
                         "(holdout), (journey), (end), (exited), (failed))");
      }
    }
  }

  // Checks the exit rules and compiles them into compiled.exit_rules.
  void exit_rules(const Json& exit) {
    if (exit.is_null()) return;
    if (!exit.is_array()) {
      error("", "\"exit\" must be an array of exit rules");
      return;
    }
    std::set<std::string> names;
    for (size_t i = 0; i < exit.size(); ++i) {
      CompiledExitRule rule;
      rule.position = static_cast<int>(i);
      exit_rule("exit[" + std::to_string(i) + "]", exit[i], names, rule);
      compiled.exit_rules.push_back(std::move(rule));
    }
  }

  // Checks one exit rule and compiles it into `rule`.
  void exit_rule(const std::string& key, const Json& r, std::set<std::string>& names,
                 CompiledExitRule& rule) {
    if (!r.is_object()) {
      error(key, "exit rule must be a JSON object");
      cannot_compile(key);
      return;
    }
    exit_rule_name(key, r, names);
    if (member(r, "name").is_string()) rule.name = r["name"].get<std::string>();
    if (r.contains("is_goal") && !r["is_goal"].is_boolean() && !r["is_goal"].is_null())
      error(key, "\"is_goal\" must be true or false");
    rule.is_goal = member(r, "is_goal").is_boolean() && r["is_goal"].get<bool>();
    const Json& type = member(r, "type");
    if (!type.is_string()) {
      error(key, "exit rule needs a \"type\" (event or condition)");
      cannot_compile(key);
      return;
    }
    const std::string ty = type.get<std::string>();
    if (ty == "event") {
      rule.kind = CompiledExitRule::Kind::Event;
      std::optional<std::string> event = string_member(key, r, "event", "event exit rule");
      if (event)
        rule.event = *event;
      else
        cannot_compile(key);
      if (r.contains("where")) {
        ConditionScope sc;
        sc.columns = false;
        sc.event = true;
        if (!(rule.condition = condition(key, r["where"], sc, "the \"where\" of " + key)))
          cannot_compile(key);
      }
      unknown_keys(key, r, {"type", "name", "event", "where", "is_goal"}, "exit rule");
    } else if (ty == "condition") {
      rule.kind = CompiledExitRule::Kind::Condition;
      if (!r.contains("when")) {
        error(key, "condition exit rule needs \"when\" (a condition on the audience row)");
        cannot_compile(key);
      } else if (!(rule.condition =
                       condition(key, r["when"], ConditionScope{}, "the \"when\" of " + key))) {
        cannot_compile(key);
      }
      unknown_keys(key, r, {"type", "name", "when", "is_goal"}, "exit rule");
    } else {
      error(key, "unknown exit rule type " + quote_name(ty) + " (expected event or condition)");
      cannot_compile(key);
    }
  }

  // -------------------------------------------------------------------------
  // Steps: each type's config is checked and compiled in one pass.

  // The step whose config is checked and compiled.
  struct StepIn {
    const std::string& key;
    const Json& c;      // the config
    std::string what;   // step "k" (type), as messages name it
    std::string where;  // step "k", as a compile failure names it
    CompiledStep& out;
  };

  // Per-type config checks, compiling the config into `out`.
  void step_config(const GraphStep& s, CompiledStep& out) {
    const StepIn in{s.key, s.config, "step " + quote_name(s.key) + " (" + s.type_name + ")",
                    "step " + quote_name(s.key), out};
    switch (*s.type) {
      case StepType::SendEmail:
        return send_email_step(in);
      case StepType::Send:
        return send_step(in);
      case StepType::Delay:
        return delay_step(in);
      case StepType::WaitForEvent:
        return wait_for_event_step(in);
      case StepType::WaitUntil:
        return wait_until_step(in);
      case StepType::Condition:
        return condition_step(in);
      case StepType::Branch:
        return branch_step(in);
      case StepType::Split:
        return split_step(in);
      case StepType::UpdateField:
        return update_field_step(in);
      case StepType::Call:
        return call_step(in);
      case StepType::Goal:
      case StepType::Exit:
        return known_config(in, {});
    }
  }

  // Warns about config keys this step type does not use ("description" is
  // allowed on every step).
  void known_config(const StepIn& in, std::initializer_list<const char*> keys) {
    for (auto it = in.c.begin(); it != in.c.end(); ++it) {
      if (it.key() == "description") continue;
      bool ok = false;
      for (const char* k : keys)
        if (it.key() == k) ok = true;
      if (!ok) warning(in.key, "unknown config key " + quote_name(it.key()));
    }
  }

  // The condition of a step's `member` in `scope` (checked when present, and
  // required when `required`), compiled into in.out.condition.
  void step_condition(const StepIn& in, const char* name, const ConditionScope& scope,
                      const std::string& needs) {
    if (!in.c.contains(name)) {
      error(in.key, in.what + " needs " + needs);
      cannot_compile(in.where);
      return;
    }
    in.out.condition = condition(in.key, in.c[name], scope,
                                 std::string("the \"") + name + "\" of step " + quote_name(in.key));
    if (!in.out.condition) cannot_compile(in.where);
  }

  // The optional "timeout" of a wait.
  void wait_timeout(const StepIn& in) {
    if (!in.c.contains("timeout")) return;
    in.out.timeout = duration(in.key, in.c["timeout"], "timeout", true);
    if (!in.out.timeout) cannot_compile(in.where);
  }

  // A required string member of the config (see string_member), compiled into `into`.
  std::string step_string(const StepIn& in, const char* name, std::string& into) {
    std::optional<std::string> v = string_member(in.key, in.c, name, in.what);
    if (!v) {
      cannot_compile(in.where);
      return {};
    }
    into = *v;
    return *v;
  }

  void send_email_step(const StepIn& in) {
    const std::string& key = in.key;
    const Json& c = in.c;
    in.out.channel = "email";
    std::string t = step_string(in, "template", in.out.template_name);
    if (!t.empty()) template_ref(key, t, "email");
    if (c.contains("to_field")) {
      if (column(key, c["to_field"], "to_field", {ValueType::Text}, "a text column") >= 0)
        rendered_column(key, c["to_field"].get<std::string>(), "the address (\"to_field\")");
      in.out.to_field = compiled_column(in.where, c["to_field"]);
    } else if (schema && schema->email_column >= 0 &&
               schema->email_column < static_cast<int>(schema->columns.size())) {
      rendered_column(key, schema->columns[schema->email_column].name, "the address");
    }
    known_config(in, {"template", "to_field"});
  }

  void send_step(const StepIn& in) {
    const std::string& key = in.key;
    const Json& c = in.c;
    std::string ch = step_string(in, "channel", in.out.channel);
    if (!ch.empty() && !valid_channel(ch))
      error(key, "channel " + quote_name(ch) + " of " + in.what +
                     " is not a channel name (lower-case letters, digits, \"_\" and \"-\", "
                     "starting with a letter)");
    bool has_t = c.contains("template"), has_p = c.contains("payload");
    if (has_t && has_p)
      error(key, in.what + " needs either \"template\" or \"payload\", not both");
    else if (!has_t && !has_p)
      error(key, in.what + " needs \"template\" or \"payload\"");
    if (has_t) {
      std::string t = step_string(in, "template", in.out.template_name);
      if (!t.empty() && !ch.empty()) template_ref(key, t, ch);
    }
    if (has_p) {
      if (!c["payload"].is_object())
        error(key, "\"payload\" of " + in.what + " must be a JSON object");
      else
        payload_strings(key, c["payload"]);
    }
    // The engine sends the template when there is one, else the payload.
    if (!has_t && has_p && c["payload"].is_object())
      in.out.payload = c["payload"];
    else if (!has_t)
      cannot_compile(in.where);
    known_config(in, {"channel", "template", "payload"});
  }

  void delay_step(const StepIn& in) {
    const std::string& key = in.key;
    const Json& c = in.c;
    const bool has_duration = c.contains("duration"), has_until = c.contains("until"),
               has_field = c.contains("until_field");
    if (has_duration + has_until + has_field != 1) {
      error(key, in.what + " needs exactly one of \"duration\", \"until\" or \"until_field\"");
      if (!has_duration && !has_until && !has_field) cannot_compile(in.where);
    }
    // The engine reads the first of duration, until and until_field.
    using Kind = CompiledStep::DelayKind;
    in.out.delay_kind = has_duration ? Kind::Duration : has_until ? Kind::Until : Kind::UntilField;
    if (has_duration) {
      std::optional<Duration> d = duration(key, c["duration"], "duration", true);
      if (d)
        in.out.duration = *d;
      else
        cannot_compile(in.where);
    }
    if (has_until) until(key, c["until"], in.out.delay_kind == Kind::Until ? &in : nullptr);
    const bool uses_field = in.out.delay_kind == Kind::UntilField && has_field;
    if (has_field) {
      column(key, c["until_field"], "until_field", {ValueType::Timestamp, ValueType::Date},
             "a timestamp or date column");
      if (uses_field) in.out.until_field = compiled_column(in.where, c["until_field"]);
    }
    if (c.contains("offset")) {
      if (!has_field) error(key, "\"offset\" of " + in.what + " is only used with \"until_field\"");
      std::optional<Duration> d = duration(key, c["offset"], "offset", false);
      if (uses_field && d)
        in.out.offset = *d;
      else if (uses_field)
        cannot_compile(in.where);
    }
    known_config(in, {"duration", "until", "until_field", "offset"});
  }

  void wait_for_event_step(const StepIn& in) {
    const std::string& key = in.key;
    const Json& c = in.c;
    step_string(in, "event", in.out.event);
    if (c.contains("where")) {
      ConditionScope sc;
      sc.event = true;
      sc.context = true;
      step_condition(in, "where", sc, "");
    }
    wait_timeout(in);
    if (c.contains("message_of")) {
      const Json& m = c["message_of"];
      if (!m.is_string() || m.get_ref<const std::string&>().empty())
        error(key, "\"message_of\" of " + in.what + " must name a send step");
      if (m.is_string())
        in.out.message_of = m.get<std::string>();
      else
        cannot_compile(in.where);
      const Json& ev = member(c, "event");
      if (ev.is_string() && !is_message_event_kind(ev.get<std::string>()))
        error(key, in.what +
                       " waits for the message of a step: its \"event\" must be "
                       "delivered, opened, clicked, bounced, complained, unsubscribed or "
                       "failed, got " +
                       quote_name(ev.get<std::string>()));
    }
    known_config(in, {"event", "where", "timeout", "message_of"});
  }

  void wait_until_step(const StepIn& in) {
    ConditionScope sc;
    sc.context = true;
    step_condition(in, "when", sc, "\"when\" (a condition on the customer)");
    wait_timeout(in);
    known_config(in, {"when", "timeout"});
  }

  void condition_step(const StepIn& in) {
    step_condition(in, "if", full_scope(), "\"if\" (a condition)");
    known_config(in, {"if"});
  }

  void branch_step(const StepIn& in) {
    named_entries(in, "cases", "case", "{\"name\", \"when\"}",
                  [&](const Json& cs, const std::string& pos, std::set<std::string>& seen) {
                    branch_case(in, cs, pos, seen);
                  });
  }

  void split_step(const StepIn& in) {
    named_entries(in, "variants", "variant", "{\"name\", \"weight\"}",
                  [&](const Json& v, const std::string& pos, std::set<std::string>& seen) {
                    split_variant(in, v, pos, seen);
                  });
    // Only the ratio of the weights counts, but their sum must be a number:
    // weights of 1e308 summed to infinity and sent every customer to the last
    // variant.
    double sum = 0;
    for (double w : in.out.variant_weights) sum += w;
    if (!std::isfinite(sum))
      error(in.key, "the weights of the variants of " + in.what +
                        " add up to more than the largest number: use smaller ones (only their "
                        "ratio counts)");
  }

  // A step's non-empty array `name` of named objects `shape` (the cases of a
  // branch, the variants of a split): each object goes to `entry` with its
  // place for messages ("case #2 of step \"k\"") and the names seen so far.
  template <class Entry>
  void named_entries(const StepIn& in, const char* name, const char* noun, const char* shape,
                     Entry entry) {
    const Json& list = member(in.c, name);
    if (!list.is_array() || list.empty()) {
      error(in.key, in.what + " needs \"" + name + "\": a non-empty array of " + shape);
      cannot_compile(in.where);
    } else {
      std::set<std::string> seen;
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string pos =
            std::string(noun) + " #" + std::to_string(i + 1) + " of step " + quote_name(in.key);
        if (!list[i].is_object()) {
          error(in.key, pos + " must be an object " + shape);
          cannot_compile(in.where);
          continue;
        }
        entry(list[i], pos, seen);
      }
    }
    known_config(in, {name});
  }

  // The "name" of a case or variant (`noun`), reported when missing, empty,
  // reserved or used twice; nullopt when it is not a string.
  std::optional<std::string> entry_name(const StepIn& in, const Json& e, const std::string& pos,
                                        const std::string& noun, std::set<std::string>& seen) {
    const std::string& key = in.key;
    const Json& name = member(e, "name");
    if (!name.is_string() || name.get_ref<const std::string&>().empty()) {
      error(key, pos + " needs a non-empty \"name\"");
      if (name.is_string()) return std::string();
      cannot_compile(in.where);
      return std::nullopt;
    }
    std::string nm = name.get<std::string>();
    if (noun == "case" && nm == "else")
      error(key, "case name \"else\" of step " + quote_name(key) + " is reserved");
    else if (!seen.insert(nm).second)
      error(key, "duplicate " + noun + " name " + quote_name(nm) + " in step " + quote_name(key));
    return nm;
  }

  // Checks a case of a branch step and compiles it into in.out.cases.
  void branch_case(const StepIn& in, const Json& cs, const std::string& pos,
                   std::set<std::string>& seen) {
    const std::string& key = in.key;
    std::optional<std::string> nm = entry_name(in, cs, pos, "case", seen);
    std::optional<CompiledCondition> when;
    if (!cs.contains("when")) {
      error(key, pos + " needs \"when\" (a condition)");
      cannot_compile(in.where);
    } else if (!(when = condition(key, cs["when"], full_scope(),
                                  !nm || nm->empty() ? pos
                                                     : "case " + quote_name(*nm) + " of step " +
                                                           quote_name(key)))) {
      cannot_compile(in.where);
    }
    unknown_keys(key, cs, {"name", "when"}, "case");
    if (nm && when) in.out.cases.emplace_back(*nm, std::move(*when));
  }

  // Checks a variant of a split step and compiles it into in.out.variant_*.
  void split_variant(const StepIn& in, const Json& v, const std::string& pos,
                     std::set<std::string>& seen) {
    const std::string& key = in.key;
    std::optional<std::string> nm = entry_name(in, v, pos, "variant", seen);
    const std::string label =
        !nm || nm->empty() ? pos : "variant " + quote_name(*nm) + " of step " + quote_name(key);
    const Json& w = member(v, "weight");
    if (w.is_null())
      error(key, label + " needs a \"weight\" (a positive number)");
    else if (!w.is_number() || !(w.get<double>() > 0) || !std::isfinite(w.get<double>()))
      error(key, "weight of " + label + " must be a positive number, got " + show(w));
    if (!w.is_number()) cannot_compile(in.where);
    unknown_keys(key, v, {"name", "weight"}, "variant");
    if (!nm || !w.is_number()) return;
    in.out.variant_names.push_back(*nm);
    in.out.variant_weights.push_back(w.get<double>());
  }

  void update_field_step(const StepIn& in) {
    const Json& set = member(in.c, "set");
    if (!set.is_object() || set.empty()) {
      error(in.key, in.what + " needs \"set\": a non-empty object {column: value}");
      cannot_compile(in.where);
    } else if (schema) {
      for (auto it = set.begin(); it != set.end(); ++it) set_value(in, it.key(), *it);
    }
    known_config(in, {"set"});
  }

  void call_step(const StepIn& in) {
    const std::string& key = in.key;
    const Json& c = in.c;
    std::string f = step_string(in, "function", in.out.function);
    if (!f.empty() && env.check_call_function) {
      std::string why = env.check_call_function(f);
      if (!why.empty()) error(key, why);
    }
    if (c.contains("simulate_result") && !c["simulate_result"].is_object() &&
        !c["simulate_result"].is_null())
      error(key, in.what +
                     " \"simulate_result\" must be a JSON object (what journey.simulate "
                     "merges into the context instead of calling the function)");
    if (c.contains("simulate_result") && !c["simulate_result"].is_null())
      in.out.simulate_result = c["simulate_result"];
    known_config(in, {"function", "simulate_result"});
  }

  // Scope of condition steps and branch cases.
  static ConditionScope full_scope() {
    ConditionScope sc;
    sc.event = true;
    sc.context = true;
    sc.behaviour = true;
    return sc;
  }

  // Checks delay "until" {time, days, timezone}; compiles it into in->out when
  // in is not null (the delay waits until it).
  void until(const std::string& key, const Json& u, const StepIn* in) {
    if (!u.is_object()) {
      error(
          key,
          "\"until\" must be an object {\"time\": \"09:00\", \"days\": [...], \"timezone\": ...}");
      if (in) cannot_compile(in->where);
      return;
    }
    const Json& t = member(u, "time");
    std::string err;
    std::optional<int> sec;
    if (t.is_null())
      error(key, "\"until\" needs \"time\" (HH:MM)");
    else if (!t.is_string() || !(sec = parse_time_of_day(t.get<std::string>(), &err)))
      error(key, "\"until\" time: " + (err.empty() ? "must be a time of day like \"09:00\"" : err));
    if (in && sec)
      in->out.until_time_sec = *sec;
    else if (in)
      cannot_compile(in->where);
    if (u.contains("days")) until_days(key, u["days"], in);
    if (u.contains("timezone")) timezone(key, u["timezone"], "until.timezone", true);
    if (in && member(u, "timezone").is_string())
      in->out.until_timezone = member(u, "timezone").get<std::string>();
    unknown_keys(key, u, {"time", "days", "timezone"}, "\"until\"");
  }

  // Checks delay "until" days; compiles them into in->out.until_days when in
  // is not null.
  void until_days(const std::string& key, const Json& d, const StepIn* in) {
    if (!d.is_array() || d.empty()) {
      error(key, "\"until\" days must be a non-empty array of weekday names (mon..sun)");
      return;
    }
    std::set<int> seen;
    for (const Json& e : d) {
      std::optional<int> wd = e.is_string() ? parse_weekday(e.get<std::string>()) : std::nullopt;
      if (!wd) {
        error(key, "invalid weekday " + show(e) + " in \"until\" days (expected mon..sun)");
        if (in) cannot_compile(in->where);
        continue;
      }
      if (in) in->out.until_days |= static_cast<uint8_t>(1u << *wd);
      if (!seen.insert(*wd).second)
        error(key, "duplicate weekday " + show(e) + " in \"until\" days");
    }
  }

  // Checks one update_field assignment column = value; compiles it into in.out.set.
  void set_value(const StepIn& in, const std::string& col, const Json& v) {
    const std::string& key = in.key;
    int idx = schema->find(col);
    if (idx < 0) {
      column_error(
          key, "column " + quote_name(col) + " of audience " + schema->relation + " does not exist",
          sqlstate::kUndefinedColumn);
      cannot_compile(in.where);
      return;
    }
    in.out.set.emplace_back(idx, v);
    if (col == schema->key_column) {
      error(key,
            "cannot set the key column " + quote_name(col) + " of audience " + schema->relation);
      return;
    }
    if (env.check_update_column) {
      std::string denied = env.check_update_column(col);
      if (!denied.empty()) error(key, denied);
    }
    const Column& c = schema->columns[idx];
    const std::string tn = c.type_name.empty() ? value_type_name(c.type) : c.type_name;
    if (v.is_null()) return;
    // {"from": "context.<key>"} / {"from": "event.<prop>"}: typed when the step runs.
    if (v.is_object() && v.size() == 1 && v.contains("from")) {
      const Json& f = v["from"];
      const std::string p = f.is_string() ? f.get<std::string>() : std::string();
      if (!((p.rfind("context.", 0) == 0 && p.size() > 8) ||
            (p.rfind("event.", 0) == 0 && p.size() > 6)))
        error(key, "value for column " + quote_name(col) +
                       ": \"from\" must name \"context.<key>\" or \"event.<property>\", got " +
                       show(f));
      return;
    }
    const bool is_now = v.is_object() && v.size() == 1 && v.contains("now") && v["now"] == true;
    if (is_now && c.type != ValueType::Timestamp && c.type != ValueType::Date &&
        c.type != ValueType::Json) {
      error(key, "{\"now\": true} is only valid for timestamp or date columns (column " +
                     quote_name(col) + " is " + tn + ")");
      return;
    }
    size_t issues_before = out.size();
    value_type(key, col, c, v, is_now);
    // The value as the field update writes it must be valid input for the
    // column's exact type (int2 range, varchar length, enum labels, domains).
    if (out.size() == issues_before && !is_now && env.check_column_value) {
      std::string why =
          env.check_column_value(col, v.is_string() ? v.get<std::string>() : v.dump());
      if (!why.empty())
        error(key, "value " + show(v) + " cannot be written to column " + quote_name(col) + " (" +
                       tn + "): " + why);
    }
  }

  // Checks that an update_field value `v` fits the JSON shape of column c's type.
  void value_type(const std::string& key, const std::string& col, const Column& c, const Json& v,
                  bool is_now) {
    const std::string tn = c.type_name.empty() ? value_type_name(c.type) : c.type_name;
    auto must = [&](const char* what) {
      error(key, "value for column " + quote_name(col) + " must be " + what + " (column type " +
                     tn + ")");
    };
    switch (c.type) {
      case ValueType::Bool:
        if (!v.is_boolean()) must("true, false or null");
        break;
      case ValueType::Int:
        if (!v.is_number_integer()) must("an integer or null");
        break;
      case ValueType::Float:
        if (!v.is_number()) must("a number or null");
        break;
      case ValueType::Text:
        if (!v.is_string()) must("a string or null");
        break;
      case ValueType::Timestamp:
      case ValueType::Date: {
        if (is_now) break;
        std::string err;
        if (!v.is_string())
          must("an ISO date/time string, {\"now\": true} or null");
        else if (!parse_timestamp(v.get<std::string>(), &err))
          error(key, "value for column " + quote_name(col) + ": " + err);
        break;
      }
      case ValueType::Json:
      case ValueType::Other:
        break;
    }
  }

  // Connection checks: branch names and targets.
  void connections(const JourneyGraph& g, const GraphStep& s) {
    const std::string& key = s.key;
    std::vector<std::string> allowed;
    if (s.type) allowed = allowed_branches(*s.type, s.config);
    const std::unordered_set<std::string> allowed_set(allowed.begin(), allowed.end());
    for (const GraphBranch& b : s.branches) {
      if (s.type) {
        if (*s.type == StepType::Exit) {
          error(key, "exit step " + quote_name(key) + " cannot have outgoing connections (branch " +
                         quote_name(b.name) + ")");
        } else if (!allowed_set.count(b.name)) {
          error(key,
                "step " + quote_name(key) + " (" + s.type_name + ") has no branch " +
                    quote_name(b.name) +
                    (allowed.empty() ? std::string() : " (expected " + join_or(allowed) + ")"));
        }
      }
      if (!b.target_ok)
        error(key,
              "branch " + quote_name(b.name) + " of step " + quote_name(key) + " has no target");
      else if (!g.find(b.target))
        error(key, "branch " + quote_name(b.name) + " of step " + quote_name(key) +
                       " leads to unknown step " + quote_name(b.target));
    }
    if (s.type && (*s.type == StepType::WaitForEvent || *s.type == StepType::WaitUntil) &&
        s.target("timeout") && !s.config.contains("timeout"))
      warning(key, "branch \"timeout\" of step " + quote_name(key) +
                       " is never taken: the step has no \"timeout\"");
  }

  // Reachability warnings, the run-length rule and the cycle rule.
  void graph_rules(const JourneyGraph& g, bool start_ok) {
    const std::vector<std::vector<size_t>> adj = adjacency(g);
    if (start_ok) unreachable_steps(g, adj);
    int ncomp = 0;
    const std::vector<int> comp = wait_free_components(g, adj, &ncomp);
    run_lengths(g, adj);
    visit_limit_path(g);
    cycles_without_wait(g, adj, comp, ncomp);
  }

  // The connections as step indexes: adj[i] are the targets of step i (none
  // for a duplicate key's later steps, none for unknown targets).
  static std::vector<std::vector<size_t>> adjacency(const JourneyGraph& g) {
    const size_t n = g.steps.size();
    std::vector<std::vector<size_t>> adj(n);
    for (size_t i = 0; i < n; ++i) {
      if (g.by_key.at(g.steps[i].key) != i) continue;  // duplicate
      for (const GraphBranch& b : g.steps[i].branches) {
        if (!b.target_ok) continue;
        auto it = g.by_key.find(b.target);
        if (it != g.by_key.end()) adj[i].push_back(it->second);
      }
    }
    return adj;
  }

  // Warns about each step the start step does not lead to.
  void unreachable_steps(const JourneyGraph& g, const std::vector<std::vector<size_t>>& adj) {
    const size_t n = g.steps.size();
    std::vector<bool> seen(n, false);
    std::deque<size_t> queue{g.by_key.at(g.start)};
    seen[queue.front()] = true;
    while (!queue.empty()) {
      size_t u = queue.front();
      queue.pop_front();
      for (size_t v : adj[u])
        if (!seen[v]) {
          seen[v] = true;
          queue.push_back(v);
        }
    }
    for (size_t i = 0; i < n; ++i)
      if (!seen[i] && g.by_key.at(g.steps[i].key) == i)
        warning(g.steps[i].key,
                "step " + quote_name(g.steps[i].key) + " is unreachable from the start step");
  }

  // Strongly connected components of the subgraph without delays and waits
  // (Tarjan, iterative): comp[i] is step i's component, -1 for a delay or wait;
  // *ncomp is how many there are.
  static std::vector<int> wait_free_components(const JourneyGraph& g,
                                               const std::vector<std::vector<size_t>>& adj,
                                               int* ncomp) {
    const size_t n = g.steps.size();
    auto waits = [&](size_t i) { return g.steps[i].type && is_wait_type(*g.steps[i].type); };
    std::vector<int> idx(n, -1), low(n, 0), comp(n, -1);
    std::vector<bool> on_stack(n, false);
    std::vector<size_t> stack;
    int counter = 0;
    for (size_t root = 0; root < n; ++root) {
      if (idx[root] != -1 || waits(root)) continue;
      std::vector<std::pair<size_t, size_t>> work{{root, 0}};
      idx[root] = low[root] = counter++;
      stack.push_back(root);
      on_stack[root] = true;
      while (!work.empty()) {
        auto& [u, ei] = work.back();
        if (ei < adj[u].size()) {
          size_t v = adj[u][ei++];
          if (waits(v)) continue;
          if (idx[v] == -1) {
            idx[v] = low[v] = counter++;
            stack.push_back(v);
            on_stack[v] = true;
            work.push_back({v, 0});
          } else if (on_stack[v]) {
            low[u] = std::min(low[u], idx[v]);
          }
        } else {
          size_t done = u;
          work.pop_back();
          if (!work.empty()) low[work.back().first] = std::min(low[work.back().first], low[done]);
          if (low[done] == idx[done]) {
            while (true) {
              size_t w = stack.back();
              stack.pop_back();
              on_stack[w] = false;
              comp[w] = *ncomp;
              if (w == done) break;
            }
            ++*ncomp;
          }
        }
      }
    }
    return comp;
  }

  // The cycle rule: one error per component of wait_free_components that has
  // a cycle, showing its shortest cycle.
  void cycles_without_wait(const JourneyGraph& g, const std::vector<std::vector<size_t>>& adj,
                           const std::vector<int>& comp, int ncomp) {
    const size_t n = g.steps.size();
    std::vector<bool> reported(ncomp, false);
    // One parent array for every search, reset where the last one wrote (a
    // fresh array per step made validation quadratic in the number of steps).
    std::vector<long> parent(n, -2);
    std::vector<size_t> touched;
    for (size_t s = 0; s < n; ++s) {
      if (comp[s] < 0 || reported[comp[s]]) continue;
      for (size_t v : touched) parent[v] = -2;
      touched.clear();
      if (!shortest_cycle(adj, comp, s, parent, touched)) continue;
      reported[comp[s]] = true;
      std::vector<size_t> path{s};
      for (size_t v = static_cast<size_t>(parent[s]); v != s; v = static_cast<size_t>(parent[v]))
        path.push_back(v);
      std::string text = g.steps[s].key;
      for (auto it = path.rbegin(); it != path.rend(); ++it) text += " -> " + g.steps[*it].key;
      error(g.steps[s].key, "cycle " + text + " has no delay or wait");
    }
  }

  // Shortest cycle through s inside its component (BFS): whether there is
  // one; parent[] then leads back from s along it (touched: where it wrote).
  static bool shortest_cycle(const std::vector<std::vector<size_t>>& adj,
                             const std::vector<int>& comp, size_t s, std::vector<long>& parent,
                             std::vector<size_t>& touched) {
    std::deque<size_t> queue;
    for (size_t v : adj[s])
      if (comp[v] == comp[s] && parent[v] == -2) {
        parent[v] = static_cast<long>(s);
        touched.push_back(v);
        queue.push_back(v);
      }
    bool found = parent[s] != -2;
    while (!found && !queue.empty()) {
      size_t u = queue.front();
      queue.pop_front();
      for (size_t v : adj[u])
        if (comp[v] == comp[s] && parent[v] == -2) {
          parent[v] = static_cast<long>(u);
          touched.push_back(v);
          if (v == s) {
            found = true;
            break;
          }
          queue.push_back(v);
        }
    }
    return found;
  }

  // The per-run step limit: a run (from the start step, or leaving a delay or
  // wait) processes steps until it parks at the next delay or wait or ends; the
  // engine fails it when it would process more than kMaxStepsPerRun (and the
  // first run more than max_step_visits). Steps on a cycle without a wait are
  // reported by the cycle rule and left out here.
  void run_lengths(const JourneyGraph& g, const std::vector<std::vector<size_t>>& adj) {
    const size_t n = g.steps.size();
    auto waits = [&](size_t i) { return g.steps[i].type && is_wait_type(*g.steps[i].type); };
    // steps[i]: how many steps a run processes from arriving at i: a delay or
    // wait parks (1), another step counts itself plus its longest way on.
    // Reverse topological order of the non-wait subgraph (Kahn).
    std::vector<int> pending(n, 0);
    for (size_t u = 0; u < n; ++u)
      if (!waits(u))
        for (size_t v : adj[u])
          if (!waits(v)) ++pending[v];
    std::vector<size_t> order;
    for (size_t u = 0; u < n; ++u)
      if (!waits(u) && pending[u] == 0) order.push_back(u);
    for (size_t k = 0; k < order.size(); ++k)
      for (size_t v : adj[order[k]])
        if (!waits(v) && --pending[v] == 0) order.push_back(v);
    std::vector<long> steps(n, 1);
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      long longest = 0;
      for (size_t v : adj[*it]) longest = std::max(longest, steps[v]);
      steps[*it] = 1 + longest;
    }
    for (size_t u = 0; u < n; ++u)  // on a cycle without a wait: reported elsewhere
      if (!waits(u) && pending[u] > 0) steps[u] = 0;
    int first_run_limit = kMaxStepsPerRun;
    const Json& max_visits = member(settings_json, "max_step_visits");
    if (max_visits.is_number_integer() && max_visits.get<int64_t>() >= 1 &&
        max_visits.get<int64_t>() < kMaxStepsPerRun)
      first_run_limit = static_cast<int>(max_visits.get<int64_t>());
    auto report = [&](size_t from, long length, int limit, const std::string& why) {
      if (length <= limit) return;
      error(g.steps[from].key, "a run from step " + quote_name(g.steps[from].key) + " takes " +
                                   std::to_string(length) + " steps before it parks or ends; " +
                                   why + ": add a delay or wait to the chain");
    };
    auto start = g.by_key.find(g.start);
    if (start != g.by_key.end() && !waits(start->second))
      report(start->second, steps[start->second], first_run_limit,
             first_run_limit < kMaxStepsPerRun
                 ? "max_step_visits allows " + std::to_string(first_run_limit)
                 : "one run may take at most " + std::to_string(kMaxStepsPerRun));
    for (size_t u = 0; u < n; ++u) {
      if (!waits(u) || g.by_key.at(g.steps[u].key) != u) continue;
      long longest = 0;
      for (size_t v : adj[u]) longest = std::max(longest, steps[v]);
      report(u, 1 + longest, kMaxStepsPerRun,
             "one run may take at most " + std::to_string(kMaxStepsPerRun));
    }
  }

  // max_step_visits counts an enrollment's visits over its whole life, so a
  // path from the start longer than it fails everyone who takes it, without a
  // loop: a warning on the step where they fail, with the path (the longest
  // one without a repeated step, see core::longest_acyclic_path). A path that
  // fails in its first run is the run-length rule's error instead.
  void visit_limit_path(const JourneyGraph& g) {
    long limit = kDefaultMaxStepVisits;
    const Json& max_visits = member(settings_json, "max_step_visits");
    if (max_visits.is_number_integer() && max_visits.get<int64_t>() >= 1)
      limit = static_cast<long>(max_visits.get<int64_t>());
    const std::vector<size_t> path = longest_acyclic_path(g);
    if (static_cast<long>(path.size()) <= limit) return;
    bool parks = false;  // a delay or wait before the failing step ends the first run
    for (long i = 0; i < limit && !parks; ++i) {
      const GraphStep& s = g.steps[path[static_cast<size_t>(i)]];
      parks = s.type && is_wait_type(*s.type);
    }
    if (!parks) return;
    std::string shown;
    for (size_t i = 0; i < path.size(); ++i) {
      if (path.size() > 12 && i == 5) {
        shown += " -> ...";
        i = path.size() - 5;
      }
      shown += (i ? " -> " : "") + g.steps[path[i]].key;
    }
    const std::string& fails = g.steps[path[static_cast<size_t>(limit)]].key;
    warning(fails, (g.name.empty() ? "" : "journey " + quote_name(g.name) + ": ") + "the path " +
                       shown + " visits " + std::to_string(path.size()) +
                       " steps, more than max_step_visits (" + std::to_string(limit) +
                       "): every enrollment that takes it fails at step " + quote_name(fails));
  }

  // Whole-journey validation, compiling it into `compiled` on the way.
  void journey(const Json& def) {
    if (!def.is_object()) {
      error("", "journey definition must be a JSON object");
      cannot_compile("journey " + quote_name(""));
      return;
    }
    // Name, audience, description.
    const Json& name = member(def, "name");
    if (name.is_null())
      error("", "journey has no name");
    else if (!name.is_string() || name.get_ref<const std::string&>().empty())
      error("", "journey name must be a non-empty string");
    const Json& aud = member(def, "audience");
    if (aud.is_null())
      error("", "journey has no audience");
    else if (!aud.is_string() || aud.get_ref<const std::string&>().empty())
      error("", "journey audience must be a table name (a non-empty string)");
    else if (!env.audience && !env.audience_unchecked)
      error("", "audience " + quote_name(aud.get<std::string>()) +
                    " is not registered (journey.register_audience)");
    const Json& desc = member(def, "description");
    if (!desc.is_null() && !desc.is_string()) error("", "journey description must be a string");
    for (const std::string& key : unknown_definition_keys(def))
      warning("", "unknown key " + quote_name(key) + " in journey definition");
    settings_json = member(def, "settings");
    settings(settings_json);
    entry_triggers(member(def, "entry"));
    exit_rules(member(def, "exit"));

    // Steps.
    JourneyGraph g = parse_graph(def, &out);
    compiled.name = g.name;
    for (const auto& [key, index] : g.by_key) compiled.by_key.emplace(key, static_cast<int>(index));
    const Json& steps = member(def, "steps");
    if (steps.is_null() || (steps.is_array() && steps.empty())) error("", "journey has no steps");
    std::set<std::string> seen;
    for (const GraphStep& s : g.steps) step(g, s, steps, seen);
    bool start_ok = start_step(g, member(def, "start"), steps);
    graph_rules(g, start_ok);
    reserved_outcome_names(g, name.is_string() ? name.get<std::string>() : std::string());
    message_of_rules(g);
    layout(g, member(def, "layout"));
  }

  // Checks one step (key, type, connections, config) and compiles it.
  void step(const JourneyGraph& g, const GraphStep& s, const Json& steps,
            std::set<std::string>& seen) {
    if (!valid_step_key(s.key))
      error(s.key, "invalid step key " + quote_name(s.key) +
                       " (use 1 to 63 letters, digits, \"_\", \".\" or \"-\")");
    if (!seen.insert(s.key).second) error(s.key, "duplicate step key " + quote_name(s.key));
    const Json& raw = steps[static_cast<size_t>(s.index)];
    const Json& type = member(raw, "type");
    if (type.is_null())
      error(s.key, "step " + quote_name(s.key) + " has no type");
    else if (!type.is_string())
      error(s.key, "type of step " + quote_name(s.key) + " must be a string");
    else if (!s.type)
      error(s.key, "unknown step type " + quote_name(s.type_name));
    CompiledStep cs;
    cs.key = s.key;
    if (s.type)
      cs.type = *s.type;
    else
      cannot_compile("step " + quote_name(s.key));
    for (const GraphBranch& b : s.branches)
      cs.branches.emplace_back(b.name, b.target_ok ? compiled.find(b.target) : -1);
    connections(g, s);
    if (s.type) step_config(s, cs);
    compiled.steps.push_back(std::move(cs));
  }

  // Checks "start" (when the journey has steps) and compiles it; whether it
  // names a step.
  bool start_step(const JourneyGraph& g, const Json& start, const Json& steps) {
    if (compiled.steps.empty())
      cannot_compile("journey " + quote_name(g.name), "it has no steps");
    else if ((compiled.start = compiled.find(g.start)) < 0)
      cannot_compile("journey " + quote_name(g.name),
                     "start step " + quote_name(g.start) + " does not exist");
    if (g.steps.empty() && !(steps.is_array() && !steps.empty())) return false;
    if (start.is_null())
      error("", "journey has no start step (\"start\")");
    else if (!start.is_string() || start.get_ref<const std::string&>().empty())
      error("", "\"start\" must be a step key");
    else if (!g.find(start.get<std::string>()))
      error("", "start step " + quote_name(start.get<std::string>()) + " does not exist");
    else
      return true;
    return false;
  }
  static void message_of_names(const Json& c, std::vector<std::string>& out) {
    if (c.is_object()) {
      const Json& m = member(c, "message_of");
      if (c.contains("event") && m.is_string() && !m.get_ref<const std::string&>().empty())
        out.push_back(m.get<std::string>());
      for (auto it = c.begin(); it != c.end(); ++it) message_of_names(*it, out);
    } else if (c.is_array()) {
      for (const Json& e : c) message_of_names(e, out);
    }
  }

  // "message_of" (of a wait_for_event or a behaviour leaf of a step) must name a
  // send step that comes before the step: engagement is with the message that
  // step sent this enrollment.
  void message_of_rules(const JourneyGraph& g) {
    const size_t n = g.steps.size();
    std::vector<std::vector<size_t>> into(n);  // reversed connections
    for (size_t i = 0; i < n; ++i) {
      if (g.by_key.at(g.steps[i].key) != i) continue;
      for (const GraphBranch& b : g.steps[i].branches) {
        if (!b.target_ok) continue;
        auto it = g.by_key.find(b.target);
        if (it != g.by_key.end()) into[it->second].push_back(i);
      }
    }
    for (size_t i = 0; i < n; ++i) {
      const GraphStep& s = g.steps[i];
      if (!s.type || g.by_key.at(s.key) != i) continue;
      std::vector<std::string> names;
      if (*s.type == StepType::WaitForEvent) {
        const Json& m = member(s.config, "message_of");
        if (m.is_string() && !m.get_ref<const std::string&>().empty())
          names.push_back(m.get<std::string>());
      } else if (*s.type == StepType::Condition || *s.type == StepType::Branch) {
        message_of_names(s.config, names);
      }
      if (names.empty()) continue;
      std::vector<bool> before(n, false);  // steps from which this one is reachable
      std::deque<size_t> queue{i};
      while (!queue.empty()) {
        size_t u = queue.front();
        queue.pop_front();
        for (size_t v : into[u])
          if (!before[v]) {
            before[v] = true;
            queue.push_back(v);
          }
      }
      for (const std::string& name : names) {
        const GraphStep* target = g.find(name);
        if (!target) {
          error(s.key, "\"message_of\" of step " + quote_name(s.key) + " names unknown step " +
                           quote_name(name));
        } else if (!target->type ||
                   (*target->type != StepType::SendEmail && *target->type != StepType::Send)) {
          error(s.key, "\"message_of\" of step " + quote_name(s.key) + " names step " +
                           quote_name(name) + ", which sends no message (not send_email or send)");
        } else if (!before[g.by_key.at(name)]) {
          error(s.key, "\"message_of\" of step " + quote_name(s.key) + " names step " +
                           quote_name(name) + ", which does not come before it");
        }
      }
    }
  }

  // The builder's step positions: {"step key": {"x": number, "y": number}}.
  void layout(const JourneyGraph& g, const Json& l) {
    if (l.is_null()) return;
    if (!l.is_object()) {
      error("", "\"layout\" must be an object {\"step key\": {\"x\": 0, \"y\": 0}}");
      return;
    }
    for (auto it = l.begin(); it != l.end(); ++it) {
      if (!g.find(it.key()))
        error("", "\"layout\" names step " + quote_name(it.key()) +
                      ", which the journey does not have");
      const Json& p = *it;
      if (!p.is_object() || p.size() != 2 || !member(p, "x").is_number() ||
          !member(p, "y").is_number())
        error(it.key(), "layout of step " + quote_name(it.key()) +
                            " must be {\"x\": number, \"y\": number}, got " + show(p));
    }
  }
};

}  // namespace

// Validates and compiles a definition in one pass; see compile.hpp.
Compilation compile_definition(const Json& definition, const ValidationEnv& env) {
  Validator v{env, env.audience, {}, {}, {}, {}, {}};
  if (!env.audience) v.cannot_compile("journey", "no audience to compile it against");
  // Only the core's own failures become an issue; anything else (a PostgreSQL
  // error of a catalog lookup, a cancel, out of memory) propagates to the bridge.
  try {
    v.journey(definition);
  } catch (const Error& e) {
    v.error("", std::string("internal error while validating: ") + e.what());
    v.cannot_compile("journey");
  } catch (const Json::exception& e) {
    v.error("", std::string("internal error while validating: ") + e.what());
    v.cannot_compile("journey");
  }
  Compilation c;
  c.journey = std::move(v.compiled);
  c.issues = std::move(v.out);
  c.unusable_where = std::move(v.unusable_where);
  c.unusable_why = std::move(v.unusable_why);
  c.unusable_code = std::move(v.unusable_code);
  return c;
}

// Why the compiled form is not usable, as compile_journey reports it.
std::string Compilation::unusable_message() const {
  return "cannot compile " + unusable_where + " of a published journey: " + unusable_why;
}

// Validates a whole journey definition; see the header.
// The top-level keys of a definition that are not a definition's (see the header).
std::vector<std::string> unknown_definition_keys(const Json& definition) {
  static const char* kKnown[] = {"name",  "audience", "description", "settings", "entry", "exit",
                                 "start", "steps",    "version",     "state",    "id",    "layout"};
  std::vector<std::string> out;
  if (!definition.is_object()) return out;
  for (auto it = definition.begin(); it != definition.end(); ++it)
    if (std::find_if(std::begin(kKnown), std::end(kKnown),
                     [&](const char* k) { return it.key() == k; }) == std::end(kKnown))
      out.push_back(it.key());
  return out;
}

std::vector<Issue> validate_journey(const Json& definition, const ValidationEnv& env) {
  return compile_definition(definition, env).issues;
}

// Validates just a settings object; see the header.
std::optional<Duration> check_duration(const Json& v, const std::string& name, bool positive,
                                       std::vector<std::string>& problems) {
  if (!v.is_string()) {
    problems.push_back(quote_name(name) + " must be a duration string like \"2 days\", got " +
                       show(v));
    return std::nullopt;
  }
  std::string err;
  auto d = parse_duration(v.get<std::string>(), &err);
  if (!d) {
    problems.push_back(quote_name(name) + ": " + err);
    return std::nullopt;
  }
  if (positive && !d->is_positive()) {
    problems.push_back(quote_name(name) + " must be a positive duration, got " +
                       quote_name(v.get<std::string>()));
    return d;
  }
  if (!within_timestamp_range(*d))
    problems.push_back(quote_name(name) + " " + quote_name(v.get<std::string>()) +
                       " is too long: durations may span at most 5000 years (timestamps end in "
                       "294276 AD and begin in 4713 BC)");
  return d;
}

std::vector<Issue> validate_settings(const Json& settings, const ValidationEnv& env) {
  Validator v{env, env.audience, {}, {}, {}, {}, {}};
  try {
    v.settings(settings);
  } catch (const Error& e) {
    v.error("settings", std::string("internal error while validating: ") + e.what());
  } catch (const Json::exception& e) {
    v.error("settings", std::string("internal error while validating: ") + e.what());
  }
  return std::move(v.out);
}

// Reads a settings object, defaults filled in, through the validator's parser
// (engine.hpp); throws when a setting cannot be read.
JourneySettings parse_settings(const Json& settings) {
  const ValidationEnv no_env;
  Validator v{no_env, nullptr, {}, {}, {}, {}, {}};
  v.settings(settings);
  Compilation c;
  c.unusable_where = std::move(v.unusable_where);
  c.unusable_why = std::move(v.unusable_why);
  if (!c.usable()) throw Error(sqlstate::kInternal, c.unusable_message());
  return std::move(v.compiled.settings);
}

}  // namespace pgj::core
