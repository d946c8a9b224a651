// Fuzz target: the journey definition validator (src/core/validator.hpp) on
// arbitrary JSON, and what the engine does with a definition it accepts.
// The input (invalid JSON is skipped) is validated against the fixture audience
// with callbacks that behave like the pg layer's (a few templates, time zones,
// callable functions, readable and updatable columns, values the columns take,
// schedules and segment queries), again with no audience and no callbacks, and
// with the audience unchecked on purpose.
// Properties: no exception escapes the validator (it would show up as an
// "internal error while validating" issue); issues are well-formed and valid
// UTF-8 (PostgreSQL returns them as text); an unchecked audience only drops the
// "not registered" error; validate_settings agrees with the settings part. A
// definition without errors must compile (compile_journey does not throw) into
// a consistent journey with sane settings, and an enrollment must run through
// it (run_enrollment with a fake Runtime, woken by its events and deadlines)
// without throwing.
#include <algorithm>
#include <map>
#include <set>

#include "core/engine.hpp"
#include "core/error.hpp"
#include "core/validator.hpp"
#include "fuzz_common.hpp"

using namespace pgj::core;
using pgj::fuzz::customers;
using pgj::fuzz::valid_utf8;

namespace {

constexpr int64_t kNow = 1706691600LL * kMicrosPerSecond;  // 2024-01-31T09:00:00Z

// Templates the fixture database holds, by name.
const std::map<std::string, TemplateDef>& templates() {
  static const std::map<std::string, TemplateDef> all = [] {
    std::map<std::string, TemplateDef> m;
    auto add = [&](const char* name, const char* channel, const char* subject, const char* body) {
      TemplateDef t;
      t.name = name;
      t.channel = channel;
      if (subject) t.subject = compile_template(subject);
      t.body = compile_template(body);
      m[name] = std::move(t);
    };
    add("welcome", "email", "Welcome, {{first_name | default: \"there\"}}!", "Glad you joined.");
    add("tips", "email", "Tips for {{plan}}", "{{context.coupon}} {{event.cart.id}}");
    add("nudge", "email", nullptr, "Still there, {{first_name}}?");
    add("promo_sms", "sms", nullptr, "{{first_name}}: {{context.score | default: '0'}}% off");
    add("push_t", "push", nullptr, "{{event.title}}");
    return m;
  }();
  return all;
}

// The pg layer's callbacks, answered from fixtures.
ValidationEnv fixture_env() {
  ValidationEnv env;
  env.audience = &customers();
  env.template_channel = [](const std::string& name) -> std::optional<std::string> {
    auto it = templates().find(name);
    if (it == templates().end()) return std::nullopt;
    return it->second.channel;
  };
  env.is_valid_timezone = [](const std::string& zone) {
    static const std::set<std::string> zones = {"UTC", "Europe/Paris", "America/New_York",
                                                "Asia/Kolkata", "Etc/GMT+12"};
    return zones.count(zone) > 0;
  };
  env.check_call_function = [](const std::string& f) -> std::string {
    if (f == "public.score_customer" || f == "enrich") return {};
    return "function " + f + "(customer_id text, context jsonb) does not exist";
  };
  env.template_tags = [](const std::string& name) {
    std::vector<std::string> tags;
    auto it = templates().find(name);
    if (it == templates().end()) return tags;
    if (it->second.subject) tags = tags_of(*it->second.subject);
    for (std::string& t : tags_of(it->second.body)) tags.push_back(std::move(t));
    return tags;
  };
  env.check_read_column = [](const std::string& c) -> std::string {
    if (c == "ip") return "journey owner app may not read column \"ip\"";
    return {};
  };
  env.check_column_value = [](const std::string& c, const std::string& value) -> std::string {
    if (c == "plan" && value != "free" && value != "pro" && value != "team" && value != "trial")
      return "invalid input value for enum plan_t: \"" + value + "\"";
    return {};
  };
  env.check_schedule = [](const std::string& schedule) -> std::string {
    if (schedule.find('$') != std::string::npos) return "this pg_cron has no \"$\"";
    return {};
  };
  env.check_segment_query = [](const std::string& query) -> std::string {
    if (query.find("secret") != std::string::npos) return "permission denied for table secret";
    return {};
  };
  env.check_update_column = [](const std::string& c) -> std::string {
    if (c == "email")
      return "journey owner app may not update column \"email\" of " + customers().relation;
    return {};
  };
  return env;
}

// Saturating a + b.
int64_t add_sat(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  return r;
}

// A Runtime that ignores time zones and answers from the fixtures.
struct FakeRuntime : Runtime {
  int64_t add_duration(int64_t ts, const Duration& d, const std::string&) override {
    return add_sat(ts, d.approx_micros());
  }
  int64_t next_local_time(int64_t after, int seconds_of_day, uint8_t days,
                          const std::string&) override {
    PGJ_FUZZ_CHECK(seconds_of_day >= 0 && seconds_of_day < 86400, "bad time of day");
    PGJ_FUZZ_CHECK((days & 1) == 0, "bad weekday bits");
    const int64_t day = after / kMicrosPerDay;
    for (int64_t d = day;; ++d) {
      const int64_t cand = d * kMicrosPerDay + seconds_of_day * kMicrosPerSecond;
      const int iso = static_cast<int>((d + 3) % 7) + 1;  // 1970-01-01 was a Thursday
      if (cand > after && (days == 0 || (days & (1u << iso)))) return cand;
    }
  }
  Json call_function(const std::string& function, const std::string& customer,
                     const Json&) override {
    if (function == "enrich") return nullptr;
    return Json{{"score", 7}, {"customer", customer}, {"coupon", "C-{{first_name}}"}};
  }
  bool happened(const Enrollment&, const std::string& event, const std::string& step,
                std::optional<Duration>, int64_t) override {
    return (event.size() + step.size()) % 2 == 1;
  }
  const TemplateDef* find_template(const std::string& name) override {
    auto it = templates().find(name);
    return it == templates().end() ? nullptr : &it->second;
  }
};

// Whether an issue list holds an error.
bool has_error(const std::vector<Issue>& issues) {
  return std::any_of(issues.begin(), issues.end(),
                     [](const Issue& i) { return i.severity == "error"; });
}

// Checks the shape of issues.
void check_issues(const std::vector<Issue>& issues) {
  for (const Issue& i : issues) {
    PGJ_FUZZ_CHECK(i.message.rfind("internal error while validating: ", 0) != 0,
                   "exception escaped the validator: " + i.message);
    PGJ_FUZZ_CHECK(i.severity == "error" || i.severity == "warning", "severity " + i.severity);
    PGJ_FUZZ_CHECK(!i.message.empty(), "empty message");
    PGJ_FUZZ_CHECK(valid_utf8(i.message), "message is not UTF-8: " + i.message);
    PGJ_FUZZ_CHECK(valid_utf8(i.step_key), "step key is not UTF-8: " + i.step_key);
  }
}

// Checks what compile_journey made of a definition that validated without errors.
void check_compiled(const CompiledJourney& j) {
  PGJ_FUZZ_CHECK(!j.steps.empty() && j.start >= 0 && j.start < static_cast<int>(j.steps.size()),
                 "start step out of range");
  for (const CompiledStep& s : j.steps)
    for (const auto& [name, target] : s.branches)
      PGJ_FUZZ_CHECK(target >= 0 && target < static_cast<int>(j.steps.size()),
                     "branch " + name + " of " + s.key + " leads nowhere");
  const JourneySettings& st = j.settings;
  PGJ_FUZZ_CHECK(st.max_attempts >= 1 && st.max_attempts <= 100, "max_attempts out of range");
  PGJ_FUZZ_CHECK(st.max_step_visits >= 1 && st.max_step_visits <= 100000,
                 "max_step_visits out of range");
  PGJ_FUZZ_CHECK(st.holdout_percent >= 0 && st.holdout_percent < 100, "holdout out of range");
  if (st.frequency_cap)
    PGJ_FUZZ_CHECK(st.frequency_cap->max >= 1 && st.frequency_cap->per.is_positive(),
                   "frequency_cap compiled to max " + std::to_string(st.frequency_cap->max));
  if (st.reentry_cooldown) PGJ_FUZZ_CHECK(st.reentry_cooldown->is_positive(), "cooldown");
  if (st.quiet_hours)
    PGJ_FUZZ_CHECK(st.quiet_hours->start_sec != st.quiet_hours->end_sec, "empty quiet hours");
}

// Runs one enrollment through a compiled journey, waking it as the pg layer
// would (at next_run_at, or with the awaited event), for a bounded number of runs.
void run(const CompiledJourney& j, const std::vector<Value>& customer_row, int64_t start) {
  const AudienceSchema& audience = customers();
  FakeRuntime rt;
  std::vector<Value> row = customer_row;
  Enrollment e;
  e.id = 1;
  e.customer_id = "42";
  e.step = j.start;
  e.last_event = Json{{"cart", {{"id", "c1"}}}, {"title", "Hi {{first_name}}"}, {"amount", 50}};
  int64_t as_of = start;
  for (int runs = 0; runs < 12; ++runs) {
    RunResult r;
    try {
      r = run_enrollment(j, audience, e, row, as_of, rt);
    } catch (const std::exception& ex) {
      PGJ_FUZZ_CHECK(false, std::string("run_enrollment threw: ") + ex.what());
    }
    PGJ_FUZZ_CHECK(r.step >= 0 && r.step < static_cast<int>(j.steps.size()), "step out of range");
    int32_t visit = e.visits;
    for (const Visit& v : r.visits_log)
      PGJ_FUZZ_CHECK(v.visit == ++visit, "visit numbers not consecutive");
    PGJ_FUZZ_CHECK(r.visits == visit, "visit count");
    for (const MessageOut& m : r.messages) {
      PGJ_FUZZ_CHECK(m.visit > e.visits && m.visit <= r.visits, "message visit out of range");
      const int s = j.find(m.step_key);
      PGJ_FUZZ_CHECK(
          s >= 0 && (j.steps[s].type == StepType::SendEmail || j.steps[s].type == StepType::Send),
          "message from step " + m.step_key);
      (void)m.payload.dump();  // throws on invalid UTF-8
    }
    for (const FieldUpdateOut& u : r.updates)
      PGJ_FUZZ_CHECK(u.column >= 0 && static_cast<size_t>(u.column) < audience.columns.size() &&
                         u.column != audience.find(audience.key_column),
                     "update of column " + std::to_string(u.column));
    if (r.outcome == RunResult::Outcome::Failed) PGJ_FUZZ_CHECK(!r.error.empty(), "failed why?");
    if (r.outcome != RunResult::Outcome::Parked) return;
    PGJ_FUZZ_CHECK(r.parked, "parked outcome without parked flag");
    // Wake it: the due time, else the awaited event, else its deadline.
    e.step = r.step;
    e.parked = r.parked;
    e.parked_at = r.parked_at;
    e.wait_deadline = r.wait_deadline;
    e.context = r.context;
    e.last_event = r.last_event;
    e.visits = r.visits;
    e.woken_by = Json::array();
    e.rearm = runs % 3 == 2;  // resume(catch_up => 'skip') now and then
    if (!r.waiting_for.empty() && runs % 2 == 0) {
      e.woken_by.push_back(
          Json{{"name", r.waiting_for}, {"properties", e.last_event}, {"occurred_at", "now"}});
      as_of = add_sat(as_of, kMicrosPerSecond);
    } else if (r.next_run_at) {
      if (*r.next_run_at == std::numeric_limits<int64_t>::max()) return;
      as_of = std::max(add_sat(as_of, 1), *r.next_run_at);
    } else {
      as_of = add_sat(as_of, kMicrosPerDay);
    }
  }
}

// A customer row in the column order of pgj::fuzz::customers().
std::vector<Value> fixture_row(bool nulls) {
  if (nulls) {
    std::vector<Value> r(customers().columns.size());
    r[0] = int64_t{7};
    return r;
  }
  return {int64_t{42},
          std::string("ada@example.com"),
          std::string("Ada"),
          std::string("pro"),
          91.5,
          int64_t{36},
          true,
          false,
          Timestamp{kNow + 86400 * kMicrosPerSecond},
          Timestamp{642902400LL * kMicrosPerSecond},
          Timestamp{kNow - 3600 * kMicrosPerSecond},
          std::string("vip"),
          std::string(R"({"lang": "en", "tags": ["a"]})"),
          std::string("10.0.0.1"),
          std::string("customer")};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<Json> parsed = pgj::fuzz::parse_json(data, size);
  if (!parsed) return 0;
  const Json& def = *parsed;

  static const ValidationEnv env = fixture_env();
  const std::vector<Issue> issues = validate_journey(def, env);
  check_issues(issues);

  // No audience, no callbacks ("accept anything"): an error for the audience at least.
  const std::vector<Issue> bare = validate_journey(def, ValidationEnv{});
  check_issues(bare);
  PGJ_FUZZ_CHECK(has_error(bare), "valid without an audience");

  // An audience left unchecked on purpose (journeyctl validate --offline)
  // reports the same but for the audience not being registered.
  ValidationEnv offline;
  offline.audience_unchecked = true;
  const std::vector<Issue> unchecked = validate_journey(def, offline);
  check_issues(unchecked);
  std::vector<Issue> expected;
  const std::string unregistered = "\" is not registered (journey.register_audience)";
  for (const Issue& i : bare)
    if (!(i.step_key.empty() && i.message.rfind("audience \"", 0) == 0 &&
          i.message.size() > unregistered.size() &&
          i.message.compare(i.message.size() - unregistered.size(), unregistered.size(),
                            unregistered) == 0))
      expected.push_back(i);
  PGJ_FUZZ_CHECK(unchecked.size() == expected.size(), "audience_unchecked changes more");
  for (size_t k = 0; k < expected.size(); ++k)
    PGJ_FUZZ_CHECK(unchecked[k].message == expected[k].message,
                   "audience_unchecked: " + unchecked[k].message);

  // validate_settings reports what the settings part of validate_journey does.
  if (def.is_object() && def.contains("settings")) {
    bool step_named_settings = false;
    if (def.contains("steps") && def["steps"].is_array())
      for (const Json& s : def["steps"])
        if (s.is_object() && s.contains("key") && s["key"] == "settings")
          step_named_settings = true;
    if (!step_named_settings) {
      std::vector<Issue> part;
      for (const Issue& i : issues)
        if (i.step_key == "settings") part.push_back(i);
      const std::vector<Issue> alone = validate_settings(def["settings"], env);
      check_issues(alone);
      PGJ_FUZZ_CHECK(alone.size() == part.size(), "validate_settings disagrees");
      for (size_t k = 0; k < alone.size(); ++k)
        PGJ_FUZZ_CHECK(alone[k].message == part[k].message,
                       "validate_settings: " + alone[k].message);
    }
  }

  if (has_error(issues)) return 0;

  // The validator's promise to the engine: what it accepts compiles and runs.
  CompiledJourney j;
  try {
    j = compile_journey(def, customers(), 1, 1);
  } catch (const std::exception& ex) {
    PGJ_FUZZ_CHECK(false, std::string("compile_journey threw on a valid definition: ") + ex.what());
  }
  check_compiled(j);
  const std::vector<int> read = columns_read(j, customers(), templates());
  for (size_t k = 0; k < read.size(); ++k)
    PGJ_FUZZ_CHECK(read[k] >= 0 && static_cast<size_t>(read[k]) < customers().columns.size() &&
                       (k == 0 || read[k - 1] < read[k]),
                   "columns_read");
  run(j, fixture_row(false), kNow);
  run(j, fixture_row(true), kNow + 12345 * kMicrosPerSecond);
  return 0;
}
