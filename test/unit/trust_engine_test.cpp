// Issue 8 ("Trust") in the core: errors the core does not own propagate
// (behaviour lookups, validator callbacks); ±infinity of timestamp and date
// values; the columns a journey reads; templates of the wrong channel; waits
// and delays re-armed after a migration; the validator's run-length and
// duration-range rules.
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>

#include "core/condition.hpp"
#include "core/engine.hpp"
#include "core/error.hpp"
#include "core/validator.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

constexpr int64_t kDay = kMicrosPerDay;

// Columns: id, email, plan, trial (timestamptz), born (date), tz, notes.
AudienceSchema audience() {
  AudienceSchema s = pgj::unit::audience_schema("public.people");
  s.columns = {{"id", ValueType::Text, "text"},
               {"email", ValueType::Text, "text"},
               {"plan", ValueType::Text, "text"},
               {"trial", ValueType::Timestamp, "timestamp with time zone"},
               {"born", ValueType::Date, "date"},
               {"tz", ValueType::Text, "text"},
               {"notes", ValueType::Text, "text"}};
  s.email_column = 1;
  s.timezone_column = 5;
  return s;
}

int64_t T(const char* iso) {
  return parse_timestamp(iso, nullptr).value();
}
const int64_t kNow = T("2030-01-01T00:00:00Z");

// Not a std::exception: what a PostgreSQL error (PgError) looks like to the core.
struct ForeignError {};

struct Runtime0 : pgj::unit::TemplatesRuntime {
  bool throw_in_happened = false;
  int64_t add_duration(int64_t ts, const Duration& d, const std::string&) override {
    return ts + d.months * 30 * kDay + d.days * kDay + d.micros;
  }
  int64_t next_local_time(int64_t after, int, uint8_t, const std::string&) override {
    return after + kDay;
  }
  Json call_function(const std::string&, const std::string&, const Json&) override {
    return Json::object();
  }
  bool happened(const Enrollment&, const std::string&, const std::string&, std::optional<Duration>,
                int64_t) override {
    if (throw_in_happened) throw ForeignError{};
    return false;
  }
};

Json definition(const char* steps, const char* extra = "{}") {
  return pgj::unit::journey_def("public.people", steps, extra);
}

std::vector<Value> person() {
  std::vector<Value> r(7);
  r[0] = std::string("p1");
  r[1] = std::string("p1@x.test");
  r[2] = std::string("free");
  return r;
}

// An enrollment parked at j's start step since kNow.
Enrollment parked_at_start(const CompiledJourney& j) {
  Enrollment e;
  e.step = j.start;
  e.parked = true;
  e.parked_at = kNow;
  return e;
}

// ---- errors the core does not own propagate ----------------------------------

TEST(TrustErrors, BehaviourLookupErrorsPropagateOutOfEvaluate) {
  AudienceSchema s = audience();
  ConditionScope scope;
  scope.behaviour = true;
  CompileResult c =
      compile_condition(Json::parse(R"({"event": "opened", "happened": true})"), &s, scope);
  ASSERT_TRUE(c.ok());
  struct Throwing : BehaviourLookup {
    bool happened(const std::string&, const std::string&, std::optional<Duration>) override {
      throw std::runtime_error("canceling statement due to lock timeout");
    }
  } lookup;
  EvalInput in;
  in.behaviour = &lookup;
  EXPECT_THROW(evaluate(c.condition, in), std::runtime_error);
}

TEST(TrustErrors, EngineLetsARuntimeErrorOfAConditionThrough) {
  AudienceSchema s = audience();
  CompiledJourney j =
      compile_journey(definition(R"([{"key": "c", "type": "condition", "if": {"event": "opened"},
                      "branches": {"yes": "x", "no": "x"}},
                     {"key": "x", "type": "exit"}])"),
                      s, 1, 1);
  Runtime0 rt;
  rt.throw_in_happened = true;
  Enrollment e;
  e.step = j.start;
  std::vector<Value> row = person();
  EXPECT_THROW(run_enrollment(j, s, e, row, kNow, rt), ForeignError);
}

TEST(TrustErrors, ValidatorCallbacksErrorsPropagate) {
  AudienceSchema s = audience();
  ValidationEnv env;
  env.audience = &s;
  env.check_call_function = [](const std::string&) -> std::string {
    throw std::runtime_error("canceling statement due to statement timeout");
  };
  Json d = definition(R"([{"key": "c", "type": "call", "function": "public.f"}])");
  EXPECT_THROW(validate_journey(d, env), std::runtime_error);
  env.check_call_function = [](const std::string&) -> std::string { throw ForeignError{}; };
  EXPECT_THROW(validate_journey(d, env), ForeignError);
}

// ---- ±infinity ------------------------------------------------------------------

TEST(TrustInfinity, ParsesAndFormats) {
  EXPECT_EQ(parse_timestamp("infinity", nullptr), kInfinity);
  EXPECT_EQ(parse_timestamp(" +Infinity ", nullptr), kInfinity);
  EXPECT_EQ(parse_timestamp("-infinity", nullptr), kMinusInfinity);
  EXPECT_EQ(format_timestamp(kInfinity), "infinity");
  EXPECT_EQ(format_timestamp(kMinusInfinity), "-infinity");
  EXPECT_EQ(value_to_text(Value{Timestamp{kInfinity}}), "infinity");
}

TEST(TrustInfinity, ConditionsCompareLikePostgres) {
  AudienceSchema s = audience();
  auto eval = [&](const char* cond, int64_t trial) {
    CompileResult c = compile_condition(Json::parse(cond), &s, ConditionScope{});
    EXPECT_TRUE(c.ok()) << cond;
    std::vector<Value> row = person();
    row[3] = Timestamp{trial};
    EvalInput in;
    in.row = &row;
    in.now_micros = kNow;
    return evaluate(c.condition, in);
  };
  const char* after = R"({"field": "trial", "op": "gt", "value": "9999-12-31"})";
  EXPECT_TRUE(eval(after, kInfinity));
  EXPECT_FALSE(eval(after, kMinusInfinity));
  EXPECT_TRUE(eval(R"({"field": "trial", "op": "eq", "value": "infinity"})", kInfinity));
  EXPECT_TRUE(eval(R"({"field": "trial", "op": "lt", "value": "infinity"})", kNow));
  EXPECT_FALSE(eval(R"({"field": "trial", "op": "within", "value": "7 days"})", kInfinity));
  EXPECT_FALSE(eval(R"({"field": "trial", "op": "within", "value": "7 days"})", kMinusInfinity));
}

TEST(TrustInfinity, DelayUntilInfinityNeverFiresMinusInfinityAtOnce) {
  AudienceSchema s = audience();
  CompiledJourney j = compile_journey(
      definition(R"([{"key": "d", "type": "delay", "until_field": "trial", "offset": "-1 day",
                      "next": "x"},
                     {"key": "x", "type": "exit"}])"),
      s, 1, 1);
  Runtime0 rt;
  Enrollment e;
  e.step = j.start;
  std::vector<Value> row = person();
  row[3] = Timestamp{kInfinity};
  RunResult r = run_enrollment(j, s, e, row, kNow, rt);
  EXPECT_EQ(r.outcome, RunResult::Outcome::Parked);
  EXPECT_FALSE(r.next_run_at.has_value());  // never due
  row[3] = Timestamp{kMinusInfinity};
  r = run_enrollment(j, s, e, row, kNow, rt);
  EXPECT_EQ(r.outcome, RunResult::Outcome::Completed);
}

// ---- what a journey reads ----------------------------------------------------------

TEST(TrustColumns, OnlyTheColumnsAJourneyReads) {
  AudienceSchema s = audience();
  CompiledJourney j = compile_journey(
      definition(
          R"([{"key": "c", "type": "condition", "if": {"field": "plan", "op": "eq", "value": "pro"},
                      "branches": {"yes": "m", "no": "d"}},
                     {"key": "m", "type": "send_email", "template": "t"},
                     {"key": "d", "type": "delay", "until": {"time": "09:00", "timezone": "customer"},
                      "next": "p"},
                     {"key": "p", "type": "send", "channel": "push", "payload": {"x": "{{notes}}"}}])"),
      s, 1, 1);
  std::map<std::string, TemplateDef> templates;
  TemplateDef t;
  t.channel = "email";
  t.body = compile_template("until {{born}}");
  templates["t"] = t;
  // plan (condition), email (address), born (template), tz (customer zone), notes (payload).
  EXPECT_EQ(columns_read(j, s, templates), (std::vector<int>{1, 2, 4, 5, 6}));
  // Not trial (3), which nothing reads.
}

// ---- a template of the wrong channel is never sent ---------------------------------

TEST(TrustTemplates, WrongChannelFailsTheRun) {
  AudienceSchema s = audience();
  CompiledJourney j = compile_journey(
      definition(R"([{"key": "m", "type": "send_email", "template": "t"}])"), s, 1, 1);
  Runtime0 rt;
  rt.add("t", "sms", "Hi");
  Enrollment e;
  e.step = j.start;
  std::vector<Value> row = person();
  try {
    run_enrollment(j, s, e, row, kNow, rt);
    FAIL() << "sent an sms template by e-mail";
  } catch (const Error& err) {
    EXPECT_STREQ(err.what(), "step \"m\": template \"t\" is for channel \"sms\", not \"email\"");
  }
}

// ---- re-armed (migrated) waits and delays ------------------------------------------

TEST(TrustRearm, WaitTakesTheNewTimeoutFromItsArrival) {
  AudienceSchema s = audience();
  CompiledJourney j = compile_journey(
      definition(R"([{"key": "w", "type": "wait_for_event", "event": "clicked", "timeout": "1 day",
                      "branches": {"event": "x", "timeout": "x"}},
                     {"key": "x", "type": "exit"}])"),
      s, 1, 2);
  Runtime0 rt;
  Enrollment e = parked_at_start(j);
  e.wait_deadline = kNow + 3 * kDay;  // armed by the old version
  e.rearm = true;
  std::vector<Value> row = person();
  RunResult r = run_enrollment(j, s, e, row, kNow + kDay / 2, rt);
  EXPECT_EQ(r.outcome, RunResult::Outcome::Parked);
  EXPECT_EQ(r.wait_deadline, kNow + kDay);
  EXPECT_EQ(r.next_run_at, kNow + kDay);
  EXPECT_EQ(r.waiting_for, "clicked");
  r = run_enrollment(j, s, e, row, kNow + kDay, rt);
  ASSERT_EQ(r.visits_log.size(), 2u);
  EXPECT_EQ(r.visits_log[0].branch, "timeout");
}

TEST(TrustRearm, DelayTakesTheNewDurationFromItsArrival) {
  AudienceSchema s = audience();
  CompiledJourney j = compile_journey(
      definition(R"([{"key": "d", "type": "delay", "duration": "2 days", "next": "x"},
                     {"key": "x", "type": "exit"}])"),
      s, 1, 2);
  Runtime0 rt;
  Enrollment e = parked_at_start(j);
  e.rearm = true;
  std::vector<Value> row = person();
  RunResult r = run_enrollment(j, s, e, row, kNow + kDay, rt);
  EXPECT_EQ(r.outcome, RunResult::Outcome::Parked);
  EXPECT_EQ(r.next_run_at, kNow + 2 * kDay);
  EXPECT_EQ(r.parked_at, kNow);
  r = run_enrollment(j, s, e, row, kNow + 3 * kDay, rt);
  EXPECT_EQ(r.outcome, RunResult::Outcome::Completed);
}

// ---- validator: per-run step limit and duration range -----------------------------

TEST(TrustValidator, ChainsLongerThanOneRunAreRefused) {
  AudienceSchema s = audience();
  ValidationEnv env;
  env.audience = &s;
  auto chain = [](int n) {
    Json steps = Json::array();
    for (int i = 1; i <= n; ++i) {
      Json st = {{"key", "s" + std::to_string(i)}, {"type", "goal"}};
      if (i < n) st["next"] = "s" + std::to_string(i + 1);
      steps.push_back(st);
    }
    Json d = {{"name", "j"}, {"audience", "public.people"}, {"start", "s1"}, {"steps", steps}};
    return d;
  };
  EXPECT_TRUE(validate_journey(chain(kMaxStepsPerRun), env).empty());
  auto issues = validate_journey(chain(kMaxStepsPerRun + 1), env);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].step_key, "s1");
  EXPECT_EQ(issues[0].message,
            "a run from step \"s1\" takes 201 steps before it parks or ends; one run may take at "
            "most 200: add a delay or wait to the chain");
}

TEST(TrustValidator, DurationsPastTheTimestampRangeAreRefused) {
  EXPECT_TRUE(within_timestamp_range(*parse_duration("5000 years", nullptr)));
  EXPECT_FALSE(within_timestamp_range(*parse_duration("5001 years", nullptr)));
  EXPECT_FALSE(within_timestamp_range(*parse_duration("-5001 years", nullptr)));
  EXPECT_FALSE(within_timestamp_range(*parse_duration("2000000 days", nullptr)));
  EXPECT_FALSE(within_timestamp_range(*parse_duration("100000000 hours", nullptr)));
  AudienceSchema s = audience();
  ValidationEnv env;
  env.audience = &s;
  auto issues = validate_journey(
      definition(R"([{"key": "d", "type": "delay", "duration": "300000 years"}])"), env);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].message,
            "\"duration\" \"300000 years\" is too long: durations may span at most 5000 years "
            "(timestamps end in 294276 AD and begin in 4713 BC)");
}

}  // namespace

}  // namespace PGJ_UNIT_ID
