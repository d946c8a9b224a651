// Tests for the execution engine: journey compilation and enrollment runs
// against a fake Runtime.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/engine.hpp"
#include "core/error.hpp"
#include "core/hash.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

constexpr int64_t kHour = 3600 * kMicrosPerSecond;
constexpr int64_t kDay = kMicrosPerDay;

// Columns of the test audience, by index.
enum Col {
  kId,
  kEmail,
  kWorkEmail,
  kFirstName,
  kPlan,
  kAge,
  kScore,
  kActive,
  kUnsubscribed,
  kTrialEndsAt,
  kBirthday,
  kUpgradedAt,
  kNotes,
  kPrefs,
  kTz,
  kNumCols
};

AudienceSchema customers() {
  AudienceSchema s = pgj::unit::audience_schema("public.customers");
  s.columns = {
      {"id", ValueType::Text, "text"},
      {"email", ValueType::Text, "text"},
      {"work_email", ValueType::Text, "text"},
      {"first_name", ValueType::Text, "text"},
      {"plan", ValueType::Text, "text"},
      {"age", ValueType::Int, "integer"},
      {"score", ValueType::Float, "double precision"},
      {"active", ValueType::Bool, "boolean"},
      {"unsubscribed", ValueType::Bool, "boolean"},
      {"trial_ends_at", ValueType::Timestamp, "timestamp with time zone"},
      {"birthday", ValueType::Date, "date"},
      {"upgraded_at", ValueType::Timestamp, "timestamp with time zone"},
      {"notes", ValueType::Text, "text"},
      {"prefs", ValueType::Json, "jsonb"},
      {"tz", ValueType::Text, "text"},
  };
  s.email_column = kEmail;
  s.timezone_column = kTz;
  return s;
}

// Micros of an ISO timestamp.
int64_t T(const char* iso) {
  std::optional<int64_t> t = parse_timestamp(iso, nullptr);
  EXPECT_TRUE(t) << iso;
  return t.value_or(0);
}

// 2024-01-01 is a Monday.
const int64_t kNow = T("2024-01-01T10:00:00Z");

// A Runtime that ignores time zones (recording them) and answers from maps.
struct FakeRuntime : Runtime {
  std::map<std::string, Json> functions;
  std::set<std::string> happened_events;
  std::map<std::string, TemplateDef> templates;
  std::vector<std::string> zones;  // zone of every add_duration / next_local_time call
  std::vector<Json> call_contexts;
  std::vector<std::string> happened_asks;  // "event/step"

  int64_t add_duration(int64_t ts, const Duration& d, const std::string& zone) override {
    zones.push_back(zone);
    return ts + d.months * 30 * kDay + d.days * kDay + d.micros;
  }
  int64_t next_local_time(int64_t after, int seconds_of_day, uint8_t days,
                          const std::string& zone) override {
    zones.push_back(zone);
    int64_t day = after / kDay;
    for (int64_t d = day;; ++d) {
      int64_t cand = d * kDay + seconds_of_day * kMicrosPerSecond;
      int iso = static_cast<int>((d + 3) % 7) + 1;  // 1970-01-01 was a Thursday
      if (cand > after && (days == 0 || (days & (1u << iso)))) return cand;
    }
  }
  Json call_function(const std::string& function, const std::string&,
                     const Json& context) override {
    call_contexts.push_back(context);
    auto it = functions.find(function);
    if (it == functions.end()) throw Error("42883", "function " + function + " does not exist");
    return it->second;
  }
  bool happened(const Enrollment&, const std::string& event, const std::string& step,
                std::optional<Duration>, int64_t) override {
    happened_asks.push_back(event + "/" + step);
    return happened_events.count(event) > 0;
  }
  const TemplateDef* find_template(const std::string& name) override {
    auto it = templates.find(name);
    return it == templates.end() ? nullptr : &it->second;
  }

  // Adds a template.
  void add_template(const std::string& name, const std::string& channel,
                    std::optional<std::string> subject, const std::string& body) {
    TemplateDef t;
    t.name = name;
    t.channel = channel;
    if (subject) t.subject = compile_template(*subject);
    t.body = compile_template(body);
    templates[name] = std::move(t);
  }
};

// A fresh customer row: id c1, email, first name Ann, plan free, age 25, tz Europe/Paris.
std::vector<Value> row() {
  std::vector<Value> r(kNumCols);
  r[kId] = std::string("c1");
  r[kEmail] = std::string("ann@example.com");
  r[kFirstName] = std::string("Ann");
  r[kPlan] = std::string("free");
  r[kAge] = int64_t{25};
  r[kScore] = 50.0;
  r[kActive] = true;
  r[kUnsubscribed] = false;
  r[kTz] = std::string("Europe/Paris");
  return r;
}

// A definition with these steps (the first is the start), extra top-level members merged.
Json def(const char* steps, const char* extra = "{}") {
  return pgj::unit::journey_def("public.customers", steps, extra);
}

// Test fixture: compiles a journey and runs enrollments of customer c1.
struct Engine : ::testing::Test {
  AudienceSchema schema = customers();
  FakeRuntime rt;
  CompiledJourney j;
  std::vector<Value> r = row();

  void SetUp() override {
    rt.add_template("welcome", "email", "Welcome {{first_name}}", "Hi {{first_name}}!");
    rt.add_template("nosubject", "email", std::nullopt, "body only");
    rt.add_template("promo_sms", "sms", std::nullopt, "Use {{context.coupon}}");
  }

  void compile(const char* steps, const char* extra = "{}") {
    j = compile_journey(def(steps, extra), schema, 7, 3);
  }
  // An enrollment at the start step (or at `key`).
  Enrollment at(const char* key = nullptr) {
    Enrollment e;
    e.id = 1;
    e.customer_id = "c1";
    e.step = key ? j.find(key) : j.start;
    return e;
  }
  RunResult run(const Enrollment& e, int64_t as_of = kNow, int max_run = 200) {
    return run_enrollment(j, schema, e, r, as_of, rt, max_run);
  }
  // The enrollment state after `res`, as the pg layer would store it.
  Enrollment after(const RunResult& res, const Enrollment& before) {
    Enrollment e = before;
    e.step = res.step;
    e.parked = res.parked;
    e.parked_at = res.parked_at;
    e.wait_deadline = res.wait_deadline;
    e.context = res.context;
    e.last_event = res.last_event;
    e.visits = res.visits;
    e.woken_by = Json::array();
    return e;
  }
  std::vector<std::string> path(const RunResult& res) {
    std::vector<std::string> out;
    for (const Visit& v : res.visits_log) out.push_back(v.step_key + ":" + v.branch);
    return out;
  }
  std::string at_key(const RunResult& res) { return j.steps.at(res.step).key; }
};

using Out = RunResult::Outcome;
using Path = std::vector<std::string>;

const char* kSpecExample = R"json({"name": "welcome-series", "audience": "public.customers",
 "settings": {"reentry": "never", "timezone": "UTC"},
 "entry": [{"type": "event", "event": "signed_up"}],
 "exit": [{"type": "condition", "when": {"field": "unsubscribed", "op": "eq", "value": true}}],
 "start": "welcome",
 "steps": [
   {"key": "welcome", "type": "send_email", "template": "welcome", "next": "wait"},
   {"key": "wait", "type": "wait_for_event", "event": "email_opened", "timeout": "3 days",
    "branches": {"event": "tips", "timeout": "nudge"}},
   {"key": "tips", "type": "send_email", "template": "tips"},
   {"key": "nudge", "type": "send_email", "template": "nudge"}]})json";

}  // namespace

// ---------------------------------------------------------------------------
// Compilation.

TEST_F(Engine, CompilesSpecExample) {
  j = compile_journey(Json::parse(kSpecExample), schema, 11, 2);
  EXPECT_EQ(j.journey_id, 11);
  EXPECT_EQ(j.version, 2);
  EXPECT_EQ(j.name, "welcome-series");
  ASSERT_EQ(j.steps.size(), 4u);
  EXPECT_EQ(j.start, 0);
  EXPECT_EQ(j.find("nudge"), 3);
  EXPECT_EQ(j.find("nope"), -1);
  EXPECT_EQ(j.steps[0].type, StepType::SendEmail);
  EXPECT_EQ(j.steps[0].channel, "email");
  EXPECT_EQ(j.steps[0].template_name, "welcome");
  EXPECT_EQ(j.steps[0].to_field, -1);
  EXPECT_EQ(j.steps[0].target("next"), 1);
  EXPECT_EQ(j.steps[1].event, "email_opened");
  ASSERT_TRUE(j.steps[1].timeout);
  EXPECT_EQ(j.steps[1].timeout->days, 3);
  EXPECT_FALSE(j.steps[1].condition);
  EXPECT_EQ(j.steps[1].target("event"), 2);
  EXPECT_EQ(j.steps[1].target("timeout"), 3);
  EXPECT_EQ(j.steps[2].target("next"), -1);
  ASSERT_EQ(j.exit_rules.size(), 1u);
  EXPECT_EQ(j.exit_rules[0].kind, CompiledExitRule::Kind::Condition);
  EXPECT_EQ(j.exit_rules[0].position, 0);
  EXPECT_FALSE(j.exit_rules[0].is_goal);
  EXPECT_TRUE(j.exit_rules[0].condition);
  EXPECT_EQ(j.settings.reentry, JourneySettings::Reentry::Never);
  EXPECT_EQ(j.settings.timezone, "UTC");
  EXPECT_EQ(j.settings.max_attempts, 5);
  EXPECT_EQ(j.settings.max_step_visits, 1000);
  EXPECT_EQ(j.settings.holdout_percent, 0);
}

TEST_F(Engine, CompilesEveryStepType) {
  const char* steps = R"json([
    {"key": "welcome", "type": "send_email", "template": "welcome", "to_field": "work_email", "next": "sms"},
    {"key": "sms", "type": "send", "channel": "sms", "template": "promo_sms", "next": "push"},
    {"key": "push", "type": "send", "channel": "push", "payload": {"title": "Hi {{first_name}}"}, "next": "pause"},
    {"key": "pause", "type": "delay", "duration": "1 day", "next": "morning"},
    {"key": "morning", "type": "delay", "until": {"time": "09:30", "days": ["mon", "sunday"], "timezone": "customer"}, "next": "trial"},
    {"key": "trial", "type": "delay", "until_field": "trial_ends_at", "offset": "-2 days", "next": "wait"},
    {"key": "wait", "type": "wait_for_event", "event": "checkout",
     "where": {"field": "event.cart", "op": "eq", "value": "x"}, "branches": {"event": "up", "timeout": "up"}},
    {"key": "up", "type": "wait_until", "when": {"field": "plan", "op": "eq", "value": "pro"}, "timeout": "14 days",
     "branches": {"met": "check", "timeout": "check"}},
    {"key": "check", "type": "condition", "if": {"field": "age", "op": "gt", "value": 18},
     "branches": {"yes": "route", "no": "route"}},
    {"key": "route", "type": "branch", "cases": [{"name": "vip", "when": {"field": "score", "op": "gt", "value": 90}}],
     "branches": {"vip": "ab", "else": "ab"}},
    {"key": "ab", "type": "split", "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 3}],
     "branches": {"a": "mark", "b": "mark"}},
    {"key": "mark", "type": "update_field", "set": {"upgraded_at": {"now": true}, "plan": "pro"}, "next": "enrich"},
    {"key": "enrich", "type": "call", "function": "public.enrich", "next": "won"},
    {"key": "won", "type": "goal", "next": "done"},
    {"key": "done", "type": "exit"}])json";
  compile(steps, R"json({"settings": {"reentry": "after_exit", "reentry_cooldown": "30 days",
      "timezone": "America/New_York", "quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "customer"},
      "frequency_cap": {"max": 3, "per": "1 day"}, "holdout_percent": 10, "max_attempts": 7,
      "max_step_visits": 500, "entity_property": "cart_id"},
      "exit": [{"type": "condition", "when": {"field": "unsubscribed", "op": "eq", "value": true}},
               {"type": "event", "event": "purchased", "is_goal": true,
                "where": {"field": "event.amount", "op": "gt", "value": 0}},
               {"type": "event", "event": "deleted"}]})json");
  ASSERT_EQ(j.steps.size(), 15u);
  const CompiledStep& welcome = j.steps[j.find("welcome")];
  EXPECT_EQ(welcome.to_field, kWorkEmail);
  const CompiledStep& sms = j.steps[j.find("sms")];
  EXPECT_EQ(sms.channel, "sms");
  EXPECT_EQ(sms.template_name, "promo_sms");
  const CompiledStep& push = j.steps[j.find("push")];
  EXPECT_TRUE(push.template_name.empty());
  EXPECT_EQ(push.payload, Json::parse(R"({"title": "Hi {{first_name}}"})"));
  const CompiledStep& pause = j.steps[j.find("pause")];
  EXPECT_EQ(pause.delay_kind, CompiledStep::DelayKind::Duration);
  EXPECT_EQ(pause.duration, (Duration{0, 1, 0}));
  const CompiledStep& morning = j.steps[j.find("morning")];
  EXPECT_EQ(morning.delay_kind, CompiledStep::DelayKind::Until);
  EXPECT_EQ(morning.until_time_sec, 9 * 3600 + 30 * 60);
  EXPECT_EQ(morning.until_days, (1 << 1) | (1 << 7));
  EXPECT_EQ(morning.until_timezone, "customer");
  const CompiledStep& trial = j.steps[j.find("trial")];
  EXPECT_EQ(trial.delay_kind, CompiledStep::DelayKind::UntilField);
  EXPECT_EQ(trial.until_field, kTrialEndsAt);
  EXPECT_EQ(trial.offset, (Duration{0, -2, 0}));
  const CompiledStep& wait = j.steps[j.find("wait")];
  EXPECT_EQ(wait.event, "checkout");
  EXPECT_TRUE(wait.condition);
  EXPECT_FALSE(wait.timeout);
  EXPECT_EQ(wait.target("event"), j.find("up"));
  const CompiledStep& up = j.steps[j.find("up")];
  EXPECT_TRUE(up.condition);
  ASSERT_TRUE(up.timeout);
  EXPECT_EQ(up.timeout->days, 14);
  EXPECT_TRUE(j.steps[j.find("check")].condition);
  const CompiledStep& route = j.steps[j.find("route")];
  ASSERT_EQ(route.cases.size(), 1u);
  EXPECT_EQ(route.cases[0].first, "vip");
  EXPECT_EQ(route.target("else"), j.find("ab"));
  const CompiledStep& ab = j.steps[j.find("ab")];
  EXPECT_EQ(ab.variant_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ab.variant_weights, (std::vector<double>{1, 3}));
  const CompiledStep& mark = j.steps[j.find("mark")];
  ASSERT_EQ(mark.set.size(), 2u);
  std::map<int, Json> set(mark.set.begin(), mark.set.end());
  EXPECT_EQ(set[kUpgradedAt], Json::parse(R"({"now": true})"));
  EXPECT_EQ(set[kPlan], "pro");
  EXPECT_EQ(j.steps[j.find("enrich")].function, "public.enrich");
  EXPECT_EQ(j.steps[j.find("won")].type, StepType::Goal);
  EXPECT_EQ(j.steps[j.find("done")].type, StepType::Exit);
  EXPECT_TRUE(j.steps[j.find("done")].branches.empty());

  ASSERT_EQ(j.exit_rules.size(), 3u);
  EXPECT_EQ(j.exit_rules[1].kind, CompiledExitRule::Kind::Event);
  EXPECT_EQ(j.exit_rules[1].event, "purchased");
  EXPECT_EQ(j.exit_rules[1].position, 1);
  EXPECT_TRUE(j.exit_rules[1].is_goal);
  EXPECT_TRUE(j.exit_rules[1].condition);
  EXPECT_FALSE(j.exit_rules[2].condition);
  EXPECT_EQ(j.exit_rules[2].position, 2);

  const JourneySettings& s = j.settings;
  EXPECT_EQ(s.reentry, JourneySettings::Reentry::AfterExit);
  ASSERT_TRUE(s.reentry_cooldown);
  EXPECT_EQ(s.reentry_cooldown->days, 30);
  EXPECT_EQ(s.timezone, "America/New_York");
  ASSERT_TRUE(s.quiet_hours);
  EXPECT_EQ(s.quiet_hours->start_sec, 21 * 3600);
  EXPECT_EQ(s.quiet_hours->end_sec, 8 * 3600);
  EXPECT_EQ(s.quiet_hours->timezone, "customer");
  ASSERT_TRUE(s.frequency_cap);
  EXPECT_EQ(s.frequency_cap->max, 3);
  EXPECT_EQ(s.frequency_cap->per.days, 1);
  EXPECT_EQ(s.holdout_percent, 10);
  EXPECT_EQ(s.max_attempts, 7);
  EXPECT_EQ(s.max_step_visits, 500);
  EXPECT_EQ(s.entity_property, "cart_id");
}

TEST_F(Engine, CompileBranchTargetMissingIsMinusOne) {
  compile(R"([{"key": "a", "type": "condition", "if": {"field": "age", "op": "gt", "value": 1},
               "branches": {"yes": "b"}},
              {"key": "b", "type": "exit"}])");
  EXPECT_EQ(j.steps[0].target("yes"), 1);
  EXPECT_EQ(j.steps[0].target("no"), -1);
}

TEST_F(Engine, CompileErrorNamesTheStep) {
  try {
    compile(
        R"([{"key": "c", "type": "condition", "if": {"field": "plann", "op": "eq", "value": 1}}])");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "42703");  // an unknown column: undefined_column
    EXPECT_NE(std::string(e.what()).find("\"c\""), std::string::npos) << e.what();
  }
  EXPECT_THROW(compile(R"([{"key": "d", "type": "delay", "duration": "3 fortnights"}])"), Error);
  EXPECT_THROW(compile(R"([{"key": "s", "type": "send_email"}])"), Error);
}

TEST(EngineSettings, Defaults) {
  JourneySettings s = parse_settings(Json::object());
  EXPECT_EQ(s.reentry, JourneySettings::Reentry::Never);
  EXPECT_FALSE(s.reentry_cooldown);
  EXPECT_EQ(s.timezone, "UTC");
  EXPECT_FALSE(s.quiet_hours);
  EXPECT_FALSE(s.frequency_cap);
  EXPECT_EQ(s.holdout_percent, 0);
  EXPECT_EQ(s.max_attempts, 5);
  EXPECT_EQ(s.max_step_visits, 1000);
  EXPECT_EQ(s.entity_property, "");
  EXPECT_EQ(parse_settings(Json::parse(R"({"reentry": "always"})")).reentry,
            JourneySettings::Reentry::Always);
}

// ---------------------------------------------------------------------------
// Messages.

TEST_F(Engine, SendEmailRendersAndMovesOn) {
  compile(R"([{"key": "welcome", "type": "send_email", "template": "welcome", "next": "bye"},
              {"key": "bye", "type": "exit"}])");
  RunResult res = run(at());
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_EQ(at_key(res), "bye");
  EXPECT_EQ(path(res), (Path{"welcome:next", "bye:"}));
  ASSERT_EQ(res.messages.size(), 1u);
  const MessageOut& m = res.messages[0];
  EXPECT_EQ(m.visit, 1);
  EXPECT_EQ(m.step_key, "welcome");
  EXPECT_EQ(m.channel, "email");
  EXPECT_FALSE(m.holdout);
  EXPECT_EQ(m.payload, Json::parse(R"({"to": "ann@example.com", "subject": "Welcome Ann",
                                      "body": "Hi Ann!", "template": "welcome", "format": "text"})"));
  EXPECT_EQ(res.visits, 2);
  EXPECT_EQ(res.visits_log[0].type, StepType::SendEmail);
  EXPECT_EQ(res.visits_log[1].type, StepType::Exit);
}

TEST_F(Engine, SendEmailToFieldNoSubjectAndNoAddress) {
  compile(
      R"([{"key": "w", "type": "send_email", "template": "nosubject", "to_field": "work_email"}])");
  r[kWorkEmail] = std::string("ann@work.example");
  RunResult res = run(at());
  ASSERT_EQ(res.messages.size(), 1u);
  EXPECT_EQ(res.messages[0].payload["to"], "ann@work.example");
  EXPECT_TRUE(res.messages[0].payload["subject"].is_null());
  EXPECT_TRUE(res.messages[0].payload.contains("subject"));
  EXPECT_EQ(res.messages[0].payload["body"], "body only");

  r[kWorkEmail] = std::monostate{};  // null address
  res = run(at());
  EXPECT_TRUE(res.messages[0].payload["to"].is_null());

  schema.email_column = -1;  // no e-mail column at all
  compile(R"([{"key": "w", "type": "send_email", "template": "welcome"}])");
  res = run(at());
  EXPECT_TRUE(res.messages[0].payload["to"].is_null());
}

TEST_F(Engine, SendWithTemplateAndPayload) {
  compile(
      R"([{"key": "sms", "type": "send", "channel": "sms", "template": "promo_sms", "next": "push"},
              {"key": "push", "type": "send", "channel": "push",
               "payload": {"title": "Hi {{first_name | default: 'there'}}", "n": 1, "ok": true,
                           "nested": {"url": "/cart/{{event.cart_id}}", "list": ["{{plan}}", 2, null]}}}])");
  Enrollment e = at();
  e.context = Json::parse(R"({"coupon": "SAVE10"})");
  e.last_event = Json::parse(R"({"cart_id": "c-9"})");
  RunResult res = run(e);
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_EQ(at_key(res), "push");
  ASSERT_EQ(res.messages.size(), 2u);
  EXPECT_EQ(res.messages[0].channel, "sms");
  EXPECT_EQ(res.messages[0].payload,
            Json::parse(R"({"template": "promo_sms", "body": "Use SAVE10"})"));
  EXPECT_EQ(res.messages[1].channel, "push");
  EXPECT_EQ(res.messages[1].visit, 2);
  EXPECT_EQ(res.messages[1].payload, Json::parse(R"({"title": "Hi Ann", "n": 1, "ok": true,
                           "nested": {"url": "/cart/c-9", "list": ["free", 2, null]}})"));
}

TEST_F(Engine, SendTemplateWithSubject) {
  rt.add_template("push_t", "push", "S {{plan}}", "B");
  compile(R"([{"key": "p", "type": "send", "channel": "push", "template": "push_t"}])");
  RunResult res = run(at());
  EXPECT_EQ(res.messages[0].payload,
            Json::parse(R"({"template": "push_t", "subject": "S free", "body": "B"})"));
}

TEST_F(Engine, MergeTags) {
  rt.add_template("tags", "email", std::nullopt,
                  "{{first_name}}|{{age}}|{{score}}|{{active}}|{{context.a.b}}|{{context.n}}|"
                  "{{event.p}}|{{event.q.r}}|{{notes | default: \"none\"}}|{{nope}}|{{context.x}}|"
                  "{{event.zz}}|{{context.obj}}");
  compile(R"([{"key": "t", "type": "send_email", "template": "tags"}])");
  Enrollment e = at();
  e.context = Json::parse(R"({"a": {"b": "deep"}, "n": 3, "obj": {"k": 1}})");
  e.last_event = Json::parse(R"({"p": "prop", "q": {"r": 1.5}})");
  RunResult res = run(e);
  EXPECT_EQ(res.messages[0].payload["body"],
            "Ann|25|50.0|true|deep|3|prop|1.5|none|||"
            "|{\"k\":1}");
}

TEST_F(Engine, HoldoutFlagOnMessages) {
  compile(R"([{"key": "w", "type": "send_email", "template": "welcome"}])");
  Enrollment e = at();
  e.holdout = true;
  RunResult res = run(e);
  ASSERT_EQ(res.messages.size(), 1u);
  EXPECT_TRUE(res.messages[0].holdout);
  EXPECT_EQ(res.visits_log.size(), 1u);
}

TEST_F(Engine, UnknownTemplateThrows) {
  compile(R"([{"key": "w", "type": "send_email", "template": "gone"}])");
  try {
    run(at());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "XX000");
    EXPECT_NE(std::string(e.what()).find("gone"), std::string::npos);
  }
}

// ---------------------------------------------------------------------------
// Delays.

TEST_F(Engine, DelayDurationParksThenMovesOn) {
  compile(R"([{"key": "d", "type": "delay", "duration": "2 days", "next": "w"},
              {"key": "w", "type": "send_email", "template": "welcome"}])",
          R"({"settings": {"timezone": "Asia/Tokyo"}})");
  Enrollment e = at();
  RunResult res = run(e);
  EXPECT_EQ(res.outcome, Out::Parked);
  EXPECT_TRUE(res.parked);
  EXPECT_EQ(at_key(res), "d");
  EXPECT_EQ(res.parked_at, kNow);
  EXPECT_EQ(res.next_run_at, kNow + 2 * kDay);
  EXPECT_FALSE(res.wait_deadline);
  EXPECT_EQ(res.waiting_for, "");
  EXPECT_TRUE(res.visits_log.empty());
  EXPECT_EQ(res.visits, 0);
  EXPECT_EQ(rt.zones, (std::vector<std::string>{"Asia/Tokyo"}));

  Enrollment e2 = after(res, e);
  res = run(e2, kNow + 2 * kDay);
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_FALSE(res.parked);
  EXPECT_FALSE(res.next_run_at);
  EXPECT_EQ(path(res), (Path{"d:next", "w:next"}));
  EXPECT_EQ(res.messages.size(), 1u);
}

TEST_F(Engine, DelayUntilWeekdays) {
  compile(
      R"([{"key": "d", "type": "delay", "until": {"time": "09:00", "days": ["wed", "fri"]}, "next": "x"},
              {"key": "x", "type": "exit"}])",
      R"({"settings": {"timezone": "Europe/Berlin"}})");
  RunResult res = run(at());  // Monday 10:00 -> Wednesday 09:00
  EXPECT_EQ(res.outcome, Out::Parked);
  EXPECT_EQ(res.next_run_at, T("2024-01-03T09:00:00Z"));
  EXPECT_EQ(rt.zones.back(), "Europe/Berlin");
  // Any day: Monday 10:00 -> Tuesday 09:00; Monday 08:00 -> Monday 09:00.
  compile(
      R"([{"key": "d", "type": "delay", "until": {"time": "09:00", "timezone": "Asia/Tokyo"}}])");
  res = run(at());
  EXPECT_EQ(res.next_run_at, T("2024-01-02T09:00:00Z"));
  EXPECT_EQ(rt.zones.back(), "Asia/Tokyo");
  res = run(at(), T("2024-01-01T08:00:00Z"));
  EXPECT_EQ(res.next_run_at, T("2024-01-01T09:00:00Z"));
}

TEST_F(Engine, DelayUntilCustomerTimezone) {
  compile(R"([{"key": "d", "type": "delay", "until": {"time": "09:00", "timezone": "customer"}}])",
          R"({"settings": {"timezone": "America/Chicago"}})");
  run(at());
  EXPECT_EQ(rt.zones.back(), "Europe/Paris");
  r[kTz] = std::string("");
  run(at());
  EXPECT_EQ(rt.zones.back(), "America/Chicago");
  r[kTz] = std::monostate{};
  run(at());
  EXPECT_EQ(rt.zones.back(), "America/Chicago");
  schema.timezone_column = -1;
  r[kTz] = std::string("Europe/Paris");
  run(at());
  EXPECT_EQ(rt.zones.back(), "America/Chicago");
}

TEST_F(Engine, DelayUntilField) {
  compile(
      R"([{"key": "d", "type": "delay", "until_field": "trial_ends_at", "offset": "-1 day", "next": "x"},
              {"key": "x", "type": "exit"}])");
  r[kTrialEndsAt] = Timestamp{kNow + 3 * kDay};
  RunResult res = run(at());
  EXPECT_EQ(res.outcome, Out::Parked);
  EXPECT_EQ(res.next_run_at, kNow + 2 * kDay);
  // Already past: no wait.
  r[kTrialEndsAt] = Timestamp{kNow + kHour};
  res = run(at());
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_EQ(path(res), (Path{"d:next", "x:"}));
  // Null field: no wait.
  r[kTrialEndsAt] = std::monostate{};
  res = run(at());
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_EQ(path(res), (Path{"d:next", "x:"}));
}

TEST_F(Engine, DelayRearm) {
  compile(R"([{"key": "d", "type": "delay", "until": {"time": "09:00"}, "next": "x"},
              {"key": "x", "type": "exit"}])");
  Enrollment e = at();
  e.parked = true;
  e.parked_at = kNow - 5 * kDay;
  // Overdue, catch_up run: fire now.
  RunResult res = run(e);
  EXPECT_EQ(res.outcome, Out::Completed);
  // Overdue, catch_up skip: re-armed to the next 09:00.
  e.rearm = true;
  res = run(e);
  EXPECT_EQ(res.outcome, Out::Parked);
  EXPECT_EQ(at_key(res), "d");
  EXPECT_EQ(res.next_run_at, T("2024-01-02T09:00:00Z"));
  EXPECT_TRUE(res.visits_log.empty());
  // A duration delay is not re-armed.
  compile(R"([{"key": "d", "type": "delay", "duration": "1 day", "next": "x"},
              {"key": "x", "type": "exit"}])");
  res = run(e);
  EXPECT_EQ(res.outcome, Out::Completed);
}

// ---------------------------------------------------------------------------
// wait_for_event.

const char* kWaitSteps = R"([
  {"key": "wait", "type": "wait_for_event", "event": "checkout", "timeout": "1 day",
   "where": {"all": [{"field": "event.cart_id", "op": "eq", "value": "c-1"},
                     {"field": "context.ok", "op": "eq", "value": true}]},
   "branches": {"event": "thanks", "timeout": "remind"}},
  {"key": "thanks", "type": "exit"},
  {"key": "remind", "type": "exit"}])";

TEST_F(Engine, WaitForEventParks) {
  compile(kWaitSteps, R"({"settings": {"timezone": "Asia/Tokyo"}})");
  RunResult res = run(at());
  EXPECT_EQ(res.outcome, Out::Parked);
  EXPECT_TRUE(res.parked);
  EXPECT_EQ(res.waiting_for, "checkout");
  EXPECT_EQ(res.wait_deadline, kNow + kDay);
  EXPECT_EQ(res.next_run_at, kNow + kDay);
  EXPECT_EQ(res.parked_at, kNow);
  EXPECT_TRUE(res.visits_log.empty());
  EXPECT_EQ(rt.zones, (std::vector<std::string>{"Asia/Tokyo"}));
}

TEST_F(Engine, WaitForEventForeverWithoutTimeout) {
  compile(
      R"([{"key": "wait", "type": "wait_for_event", "event": "checkout", "branches": {"event": "x"}},
              {"key": "x", "type": "exit"}])");
  RunResult res = run(at());
  EXPECT_EQ(res.outcome, Out::Parked);
  EXPECT_FALSE(res.wait_deadline);
  EXPECT_FALSE(res.next_run_at);
  // Woken by any checkout (no where).
  Enrollment e = after(res, at());
  e.woken_by = Json::parse(R"([{"name": "checkout", "properties": {"a": 1}}])");
  res = run(e, kNow + 100 * kDay);
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_EQ(path(res), (Path{"wait:event", "x:"}));
}

TEST_F(Engine, WaitForEventWokenByMatchingEvent) {
  compile(kWaitSteps);
  Enrollment e = at();
  e.context = Json::parse(R"({"ok": true})");
  RunResult res = run(e);
  e = after(res, e);
  e.woken_by = Json::parse(
      R"([{"name": "checkout", "properties": {"cart_id": "c-1", "total": 5}, "occurred_at": "x"}])");
  res = run(e, kNow + kHour);
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_EQ(at_key(res), "thanks");
  EXPECT_EQ(path(res), (Path{"wait:event", "thanks:"}));
  EXPECT_EQ(res.last_event, Json::parse(R"({"cart_id": "c-1", "total": 5})"));
  EXPECT_EQ(res.waiting_for, "");
}

TEST_F(Engine, WaitForEventNonMatchingReparks) {
  compile(kWaitSteps);
  Enrollment e = at();
  e.context = Json::parse(R"({"ok": true})");
  e.last_event = Json::parse(R"({"entry": 1})");
  e = after(run(e), e);
  // Wrong cart, and a matching cart under another event name.
  e.woken_by = Json::parse(R"([{"name": "checkout", "properties": {"cart_id": "c-2"}},
                               {"name": "viewed", "properties": {"cart_id": "c-1"}}])");
  RunResult res = run(e, kNow + kHour);
  EXPECT_EQ(res.outcome, Out::Parked);
  EXPECT_EQ(at_key(res), "wait");
  EXPECT_EQ(res.parked_at, kNow);  // unchanged
  EXPECT_EQ(res.wait_deadline, kNow + kDay);
  EXPECT_EQ(res.next_run_at, kNow + kDay);
  EXPECT_EQ(res.waiting_for, "checkout");
  EXPECT_EQ(res.last_event, Json::parse(R"({"entry": 1})"));
  EXPECT_TRUE(res.visits_log.empty());
  // The context takes part in the where: not ok -> no match even for c-1.
  e.context = Json::parse(R"({"ok": false})");
  e.woken_by = Json::parse(R"([{"name": "checkout", "properties": {"cart_id": "c-1"}}])");
  res = run(e, kNow + kHour);
  EXPECT_EQ(res.outcome, Out::Parked);
}

TEST_F(Engine, WaitForEventSecondEventMatches) {
  compile(kWaitSteps);
  Enrollment e = at();
  e.context = Json::parse(R"({"ok": true})");
  e = after(run(e), e);
  e.woken_by = Json::parse(R"([{"name": "checkout", "properties": {"cart_id": "c-2"}},
                               {"name": "checkout", "properties": {"cart_id": "c-1", "n": 2}},
                               {"name": "checkout", "properties": {"cart_id": "c-1", "n": 3}}])");
  RunResult res = run(e, kNow + kHour);
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_EQ(path(res), (Path{"wait:event", "thanks:"}));
  EXPECT_EQ(res.last_event, Json::parse(R"({"cart_id": "c-1", "n": 2})"));
}

TEST_F(Engine, WaitForEventTimeout) {
  compile(kWaitSteps);
  Enrollment e = after(run(at()), at());
  RunResult res = run(e, kNow + kDay);
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_EQ(path(res), (Path{"wait:timeout", "remind:"}));
  // A non-matching event delivered at the deadline: still the timeout.
  e.woken_by = Json::parse(R"([{"name": "checkout", "properties": {"cart_id": "c-2"}}])");
  res = run(e, kNow + 2 * kDay);
  EXPECT_EQ(path(res), (Path{"wait:timeout", "remind:"}));
  // A matching event wins over a passed deadline.
  e.context = Json::parse(R"({"ok": true})");
  e.woken_by = Json::parse(R"([{"name": "checkout", "properties": {"cart_id": "c-1"}}])");
  res = run(e, kNow + 2 * kDay);
  EXPECT_EQ(path(res), (Path{"wait:event", "thanks:"}));
}

// ---------------------------------------------------------------------------
// wait_until.

const char* kWaitUntilSteps = R"([
  {"key": "up", "type": "wait_until", "when": {"any": [{"field": "plan", "op": "eq", "value": "pro"},
                                                      {"field": "context.vip", "op": "eq", "value": true}]},
   "timeout": "14 days", "branches": {"met": "yay", "timeout": "meh"}},
  {"key": "yay", "type": "exit"},
  {"key": "meh", "type": "exit"}])";

TEST_F(Engine, WaitUntilMetNow) {
  compile(kWaitUntilSteps);
  r[kPlan] = std::string("pro");
  RunResult res = run(at());
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_EQ(path(res), (Path{"up:met", "yay:"}));
  r[kPlan] = std::string("free");
  Enrollment e = at();
  e.context = Json::parse(R"({"vip": true})");
  res = run(e);
  EXPECT_EQ(path(res), (Path{"up:met", "yay:"}));
}

TEST_F(Engine, WaitUntilMetLater) {
  compile(kWaitUntilSteps);
  RunResult res = run(at());
  EXPECT_EQ(res.outcome, Out::Parked);
  EXPECT_EQ(res.wait_deadline, kNow + 14 * kDay);
  EXPECT_EQ(res.next_run_at, kNow + 14 * kDay);
  EXPECT_EQ(res.waiting_for, "");
  EXPECT_EQ(res.parked_at, kNow);
  Enrollment e = after(res, at());
  // Still not met: parks again, same deadline.
  res = run(e, kNow + kDay);
  EXPECT_EQ(res.outcome, Out::Parked);
  EXPECT_EQ(res.wait_deadline, kNow + 14 * kDay);
  EXPECT_EQ(res.next_run_at, kNow + 14 * kDay);
  EXPECT_EQ(res.parked_at, kNow);
  r[kPlan] = std::string("pro");
  res = run(e, kNow + 2 * kDay);
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_EQ(path(res), (Path{"up:met", "yay:"}));
}

TEST_F(Engine, WaitUntilTimeout) {
  compile(kWaitUntilSteps);
  Enrollment e = after(run(at()), at());
  RunResult res = run(e, kNow + 14 * kDay);
  EXPECT_EQ(path(res), (Path{"up:timeout", "meh:"}));
  // Without a timeout it waits for ever.
  compile(
      R"([{"key": "up", "type": "wait_until", "when": {"field": "plan", "op": "eq", "value": "pro"}}])");
  res = run(at());
  EXPECT_EQ(res.outcome, Out::Parked);
  EXPECT_FALSE(res.next_run_at);
  EXPECT_FALSE(res.wait_deadline);
}

// ---------------------------------------------------------------------------
// condition / branch / split.

TEST_F(Engine, ConditionYesNo) {
  compile(R"([{"key": "c", "type": "condition",
               "if": {"all": [{"field": "age", "op": "gte", "value": 18},
                              {"field": "event.src", "op": "eq", "value": "web"},
                              {"field": "context.n", "op": "gt", "value": 1},
                              {"event": "email_opened", "step": "w", "within": "3 days"}]},
               "branches": {"yes": "y", "no": "n"}},
              {"key": "y", "type": "exit"}, {"key": "n", "type": "exit"}])");
  Enrollment e = at();
  e.last_event = Json::parse(R"({"src": "web"})");
  e.context = Json::parse(R"({"n": 2})");
  rt.happened_events = {"email_opened"};
  EXPECT_EQ(path(run(e)), (Path{"c:yes", "y:"}));
  EXPECT_EQ(rt.happened_asks.back(), "email_opened/w");
  rt.happened_events.clear();
  EXPECT_EQ(path(run(e)), (Path{"c:no", "n:"}));
  rt.happened_events = {"email_opened"};
  e.last_event = Json::parse(R"({"src": "app"})");
  EXPECT_EQ(path(run(e)), (Path{"c:no", "n:"}));
}

TEST_F(Engine, BranchFirstMatchingCaseElse) {
  compile(R"([{"key": "b", "type": "branch",
               "cases": [{"name": "vip", "when": {"field": "score", "op": "gt", "value": 90}},
                         {"name": "young", "when": {"field": "age", "op": "lt", "value": 30}}],
               "branches": {"vip": "v", "young": "y", "else": "o"}},
              {"key": "v", "type": "exit"}, {"key": "y", "type": "exit"}, {"key": "o", "type": "exit"}])");
  r[kScore] = 95.0;
  EXPECT_EQ(path(run(at())), (Path{"b:vip", "v:"}));  // both match: the first wins
  r[kScore] = 10.0;
  EXPECT_EQ(path(run(at())), (Path{"b:young", "y:"}));
  r[kAge] = int64_t{40};
  EXPECT_EQ(path(run(at())), (Path{"b:else", "o:"}));
}

// A split behind another split draws by its own step key: with one draw for
// the journey, every customer that took "a" at the first 1:1 split took the
// same variant at the second one.
TEST_F(Engine, NestedSplitDrawsIndependently) {
  compile(
      R"([{"key": "ab", "type": "split", "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
               "branches": {"a": "cd", "b": "xb"}},
              {"key": "cd", "type": "split", "variants": [{"name": "c", "weight": 1}, {"name": "d", "weight": 1}],
               "branches": {"c": "xc", "d": "xd"}},
              {"key": "xb", "type": "exit"}, {"key": "xc", "type": "exit"}, {"key": "xd", "type": "exit"}])");
  EXPECT_FALSE(j.steps.at(j.find("ab")).split_draws_own);
  EXPECT_TRUE(j.steps.at(j.find("cd")).split_draws_own);
  std::map<std::string, int> second;
  for (int i = 0; i < 400; ++i) {
    Enrollment e = at();
    e.customer_id = std::to_string(i);
    RunResult res = run(e);
    const std::string first = res.visits_log.at(0).branch;
    // The first split keeps the journey-wide draw (0.1's assignment).
    EXPECT_EQ(first, pick_variant({1, 1}, "j", e.customer_id) == 0 ? "a" : "b");
    if (first != "a") continue;
    const std::string v = res.visits_log.at(1).branch;
    EXPECT_EQ(v, pick_variant({1, 1}, "j", e.customer_id, "cd") == 0 ? "c" : "d");
    EXPECT_EQ(run(e).visits_log.at(1).branch, v);  // same customer, same variant
    ++second[v];
  }
  // About half of the ~200 that took "a" take each variant of the second split.
  EXPECT_GT(second["c"], 70);
  EXPECT_GT(second["d"], 70);
}

// Which splits draw their own: reached from another split (also through a
// loop or a step between), not a split that only reaches itself, not splits
// on separate branches.
TEST(NestedSplits, Marked) {
  auto step = [](const char* key, StepType type, std::vector<std::pair<std::string, int>> out) {
    CompiledStep s;
    s.key = key;
    s.type = type;
    s.branches = std::move(out);
    return s;
  };
  CompiledJourney j;
  j.steps = {step("s0", StepType::Split, {{"a", 1}, {"b", 2}}),    // first split
             step("s1", StepType::Split, {{"a", 3}, {"b", 3}}),    // behind s0
             step("d", StepType::Delay, {{"next", 4}}),            // s0's other side
             step("e", StepType::Exit, {}),                        //
             step("s4", StepType::Split, {{"a", 5}, {"b", 3}}),    // behind s0 through d
             step("w", StepType::Delay, {{"next", 4}}),            // loops back to s4
             step("lone", StepType::Split, {{"a", 7}, {"b", 3}}),  // reaches only itself
             step("l", StepType::Delay, {{"next", 6}})};
  mark_nested_splits(j);
  EXPECT_FALSE(j.steps[0].split_draws_own);
  EXPECT_TRUE(j.steps[1].split_draws_own);
  EXPECT_TRUE(j.steps[4].split_draws_own);
  EXPECT_FALSE(j.steps[6].split_draws_own);
}

TEST_F(Engine, SplitIsDeterministic) {
  compile(
      R"([{"key": "ab", "type": "split", "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1}],
               "branches": {"a": "xa", "b": "xb"}},
              {"key": "xa", "type": "exit"}, {"key": "xb", "type": "exit"}])");
  std::map<std::string, int> seen;
  for (int i = 0; i < 40; ++i) {
    Enrollment e = at();
    e.customer_id = "cust" + std::to_string(i);
    RunResult res = run(e);
    std::string v = res.visits_log.at(0).branch;
    const char* expected = pick_variant({1, 1}, "j", e.customer_id) == 0 ? "a" : "b";
    EXPECT_EQ(v, expected);
    EXPECT_EQ(at_key(res), "x" + v);
    EXPECT_EQ(run(e).visits_log.at(0).branch, v);  // same customer, same variant
    ++seen[v];
  }
  EXPECT_EQ(seen.size(), 2u);  // both variants are used
}

// ---------------------------------------------------------------------------
// update_field / call / goal / exit.

TEST_F(Engine, UpdateFieldVisibleToLaterSteps) {
  compile(R"([{"key": "m", "type": "update_field",
               "set": {"plan": "pro", "upgraded_at": {"now": true}, "age": 41, "score": 1.5,
                       "active": false, "notes": null, "prefs": {"a": [1]},
                       "birthday": "2000-02-03", "trial_ends_at": "2024-02-01T12:00:00Z"},
               "next": "c"},
              {"key": "c", "type": "condition",
               "if": {"all": [{"field": "plan", "op": "eq", "value": "pro"},
                              {"field": "upgraded_at", "op": "within", "value": "1 hour"}]},
               "branches": {"yes": "y", "no": "n"}},
              {"key": "y", "type": "exit"}, {"key": "n", "type": "exit"}])");
  r[kNotes] = std::string("old");
  RunResult res = run(at());
  EXPECT_EQ(path(res), (Path{"m:next", "c:yes", "y:"}));
  std::map<int, Json> up;
  for (const FieldUpdateOut& u : res.updates) up[u.column] = u.value;
  ASSERT_EQ(up.size(), 9u);
  EXPECT_EQ(up[kPlan], "pro");
  EXPECT_EQ(up[kUpgradedAt], format_timestamp(kNow));
  EXPECT_EQ(up[kAge], 41);
  EXPECT_TRUE(up[kNotes].is_null());
  EXPECT_EQ(up[kPrefs], Json::parse(R"({"a": [1]})"));
  EXPECT_EQ(r[kPlan], Value(std::string("pro")));
  EXPECT_EQ(r[kUpgradedAt], Value(Timestamp{kNow}));
  EXPECT_EQ(r[kAge], Value(int64_t{41}));
  EXPECT_EQ(r[kScore], Value(1.5));
  EXPECT_EQ(r[kActive], Value(false));
  EXPECT_EQ(r[kNotes], Value(std::monostate{}));
  EXPECT_EQ(r[kPrefs], Value(std::string(R"({"a":[1]})")));
  EXPECT_EQ(r[kBirthday], Value(Timestamp{T("2000-02-03")}));
  EXPECT_EQ(r[kTrialEndsAt], Value(Timestamp{T("2024-02-01T12:00:00Z")}));
}

TEST_F(Engine, UpdateFieldThenMessageSeesNewValue) {
  compile(R"([{"key": "m", "type": "update_field", "set": {"first_name": "Bea"}, "next": "w"},
              {"key": "w", "type": "send_email", "template": "welcome"}])");
  RunResult res = run(at());
  EXPECT_EQ(res.messages.at(0).payload["body"], "Hi Bea!");
}

TEST_F(Engine, CallMergesContext) {
  rt.functions["public.enrich"] = Json::parse(R"({"score": 7, "coupon": "NEW"})");
  rt.functions["public.nothing"] = Json();
  compile(R"([{"key": "c", "type": "call", "function": "public.enrich", "next": "n"},
              {"key": "n", "type": "call", "function": "public.nothing", "next": "x"},
              {"key": "x", "type": "exit"}])");
  Enrollment e = at();
  e.context = Json::parse(R"({"coupon": "OLD", "keep": true})");
  RunResult res = run(e);
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_EQ(path(res), (Path{"c:next", "n:next", "x:"}));
  EXPECT_EQ(res.context, Json::parse(R"({"coupon": "NEW", "keep": true, "score": 7})"));
  ASSERT_EQ(rt.call_contexts.size(), 2u);
  EXPECT_EQ(rt.call_contexts[0], Json::parse(R"({"coupon": "OLD", "keep": true})"));
  EXPECT_EQ(rt.call_contexts[1], res.context);
}

TEST_F(Engine, CallRejectsNonObjects) {
  compile(R"([{"key": "c", "type": "call", "function": "public.bad"}])");
  for (const char* v : {"[1]", "3", "\"x\"", "true"}) {
    rt.functions["public.bad"] = Json::parse(v);
    try {
      run(at());
      FAIL() << "expected an error for " << v;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023");
      EXPECT_NE(std::string(e.what()).find("call step \"c\": function public.bad returned"),
                std::string::npos)
          << e.what();
      EXPECT_NE(std::string(e.what()).find("expected a JSON object"), std::string::npos);
    }
  }
  rt.functions.clear();
  EXPECT_THROW(run(at()), Error);  // the runtime's error propagates
}

TEST_F(Engine, GoalSetsConvertedAt) {
  compile(R"([{"key": "g", "type": "goal", "next": "d"},
              {"key": "d", "type": "delay", "duration": "1 day", "next": "g2"},
              {"key": "g2", "type": "goal"}])");
  RunResult res = run(at());
  EXPECT_EQ(res.outcome, Out::Parked);
  EXPECT_EQ(res.converted_at, kNow);
  EXPECT_EQ(path(res), (Path{"g:next"}));
  res = run(after(res, at()), kNow + kDay);
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_EQ(res.converted_at, kNow + kDay);
  EXPECT_EQ(path(res), (Path{"d:next", "g2:next"}));
  // Without a goal step: not converted.
  compile(R"([{"key": "x", "type": "exit"}])");
  EXPECT_FALSE(run(at()).converted_at);
}

TEST_F(Engine, ExitStepCompletes) {
  compile(R"([{"key": "x", "type": "exit"}])");
  RunResult res = run(at());
  EXPECT_EQ(res.outcome, Out::Completed);
  ASSERT_EQ(res.visits_log.size(), 1u);
  EXPECT_EQ(res.visits_log[0].branch, "");
  EXPECT_EQ(res.visits_log[0].visit, 1);
  EXPECT_EQ(res.exit_reason, "");
}

TEST_F(Engine, StepWithoutWayOutCompletes) {
  compile(R"([{"key": "c", "type": "condition", "if": {"field": "age", "op": "gt", "value": 1},
               "branches": {"no": "x"}},
              {"key": "x", "type": "exit"}])");
  RunResult res = run(at());
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_EQ(at_key(res), "c");
  EXPECT_EQ(path(res), (Path{"c:yes"}));
  compile(R"([{"key": "g", "type": "goal"}])");
  res = run(at());
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_EQ(path(res), (Path{"g:next"}));
}

// ---------------------------------------------------------------------------
// Exit rules and caps.

TEST_F(Engine, ConditionExitRuleBeforeSend) {
  compile(R"([{"key": "u", "type": "update_field", "set": {"unsubscribed": true}, "next": "w"},
              {"key": "w", "type": "send_email", "template": "welcome"}])",
          R"({"exit": [{"type": "event", "event": "bought", "is_goal": true},
                       {"type": "condition", "when": {"field": "plan", "op": "eq", "value": "pro"}, "is_goal": true},
                       {"type": "condition", "when": {"field": "unsubscribed", "op": "eq", "value": true}}]})");
  RunResult res = run(at());
  EXPECT_EQ(res.outcome, Out::Exited);
  EXPECT_EQ(res.exit_reason, "exit rule exit[2]");
  EXPECT_TRUE(res.messages.empty());
  EXPECT_EQ(path(res), (Path{"u:next"}));
  EXPECT_EQ(at_key(res), "w");
  EXPECT_FALSE(res.converted_at);
  EXPECT_FALSE(res.parked);
  // A goal rule, matched before the first step: no visit at all.
  r[kPlan] = std::string("pro");
  r[kUnsubscribed] = false;
  res = run(at());
  EXPECT_EQ(res.outcome, Out::Exited);
  EXPECT_EQ(res.exit_reason, "exit rule exit[1]");
  EXPECT_EQ(res.converted_at, kNow);
  EXPECT_TRUE(res.visits_log.empty());
  EXPECT_TRUE(res.updates.empty());
  EXPECT_EQ(res.visits, 0);
}

TEST_F(Engine, ExitRuleWhileParkedAndGoalStepKept) {
  compile(
      R"([{"key": "g", "type": "goal", "next": "m"},
              {"key": "m", "type": "update_field", "set": {"plan": "pro"}, "next": "w"},
              {"key": "w", "type": "wait_for_event", "event": "x"}])",
      R"({"exit": [{"type": "condition", "when": {"field": "plan", "op": "eq", "value": "pro"}, "is_goal": true}]})");
  RunResult res = run(at());
  EXPECT_EQ(res.outcome, Out::Exited);
  EXPECT_EQ(res.converted_at, kNow);  // from the goal step (same clock here)
  EXPECT_EQ(path(res), (Path{"g:next", "m:next"}));
  // Parked at the wait: the rule exits it when it runs again, no visit.
  r[kPlan] = std::string("free");
  compile(
      R"([{"key": "w", "type": "wait_for_event", "event": "x"}])",
      R"({"exit": [{"type": "condition", "when": {"field": "plan", "op": "eq", "value": "pro"}}]})");
  Enrollment e = after(run(at()), at());
  r[kPlan] = std::string("pro");
  res = run(e, kNow + kHour);
  EXPECT_EQ(res.outcome, Out::Exited);
  EXPECT_EQ(res.exit_reason, "exit rule exit[0]");
  EXPECT_FALSE(res.parked);
  EXPECT_EQ(res.waiting_for, "");
  EXPECT_FALSE(res.next_run_at);
  EXPECT_FALSE(res.converted_at);
}

TEST_F(Engine, VisitNumberingContinues) {
  compile(R"([{"key": "w", "type": "send_email", "template": "welcome", "next": "x"},
              {"key": "x", "type": "exit"}])");
  Enrollment e = at();
  e.visits = 41;
  RunResult res = run(e);
  EXPECT_EQ(res.visits, 43);
  ASSERT_EQ(res.visits_log.size(), 2u);
  EXPECT_EQ(res.visits_log[0].visit, 42);
  EXPECT_EQ(res.visits_log[1].visit, 43);
  EXPECT_EQ(res.messages.at(0).visit, 42);
}

TEST_F(Engine, StepVisitLimitFails) {
  compile(R"([{"key": "a", "type": "goal", "next": "b"},
              {"key": "b", "type": "goal", "next": "c"},
              {"key": "c", "type": "exit"}])",
          R"({"settings": {"max_step_visits": 10}})");
  Enrollment e = at();
  e.visits = 8;
  RunResult res = run(e);
  EXPECT_EQ(res.outcome, Out::Failed);
  EXPECT_EQ(res.error, "step visit limit (10) reached at step \"c\"");
  EXPECT_EQ(at_key(res), "c");
  EXPECT_EQ(res.visits, 10);
  EXPECT_EQ(path(res), (Path{"a:next", "b:next"}));
  e.visits = 7;
  EXPECT_EQ(run(e).outcome, Out::Completed);
}

TEST_F(Engine, VisitsPerRunCapFailsALoop) {
  // A loop without a wait (the validator forbids it; the engine must still stop).
  compile(R"([{"key": "a", "type": "goal", "next": "b"},
              {"key": "b", "type": "goal", "next": "a"}])");
  RunResult res = run(at(), kNow, 5);
  EXPECT_EQ(res.outcome, Out::Failed);
  EXPECT_EQ(res.error, "more than 5 steps in one run at step \"b\" (a loop?)");
  EXPECT_EQ(res.visits_log.size(), 5u);
  EXPECT_FALSE(res.parked);
  // The default cap is 200.
  res = run(at());
  EXPECT_EQ(res.outcome, Out::Failed);
  EXPECT_EQ(res.visits_log.size(), 200u);
  EXPECT_EQ(res.error, "more than 200 steps in one run at step \"a\" (a loop?)");
}

TEST_F(Engine, SpecExampleEndToEnd) {
  j = compile_journey(Json::parse(kSpecExample), schema, 1, 1);
  rt.add_template("tips", "email", "Tips", "tips for {{first_name}}");
  rt.add_template("nudge", "email", "Nudge", "nudge");
  Enrollment e = at();
  RunResult res = run(e);
  EXPECT_EQ(res.outcome, Out::Parked);
  EXPECT_EQ(at_key(res), "wait");
  EXPECT_EQ(res.messages.size(), 1u);
  e = after(res, e);
  e.woken_by = Json::parse(R"([{"name": "email_opened", "properties": {}}])");
  res = run(e, kNow + kHour);
  EXPECT_EQ(res.outcome, Out::Completed);
  EXPECT_EQ(path(res), (Path{"wait:event", "tips:next"}));
  ASSERT_EQ(res.messages.size(), 1u);
  EXPECT_EQ(res.messages[0].visit, 3);
  EXPECT_EQ(res.messages[0].payload["body"], "tips for Ann");
  // Unsubscribed while waiting: the exit rule fires, no nudge.
  r[kUnsubscribed] = true;
  e.woken_by = Json::array();
  res = run(e, kNow + 3 * kDay);
  EXPECT_EQ(res.outcome, Out::Exited);
  EXPECT_TRUE(res.messages.empty());
}

}  // namespace PGJ_UNIT_ID
