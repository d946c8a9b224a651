// Issue 10, second pass: a run that fails after it moved on says where it
// failed (RunProgress) and can be replayed up to that step; exit rule names
// are measured in characters and checked in any case.
#include <gtest/gtest.h>

#include <stdexcept>

#include "core/engine.hpp"
#include "core/validator.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

AudienceSchema people() {
  AudienceSchema s = pgj::unit::audience_schema("public.people");
  s.columns = {{"id", ValueType::Text, "text"}};
  return s;
}

// A call step's function that always fails.
struct FailingCall : Runtime {
  int calls = 0;
  int64_t add_duration(int64_t ts, const Duration&, const std::string&) override { return ts; }
  int64_t next_local_time(int64_t after, int, uint8_t, const std::string&) override {
    return after;
  }
  Json call_function(const std::string&, const std::string&, const Json&) override {
    ++calls;
    throw std::runtime_error("refused");
  }
  bool happened(const Enrollment&, const std::string&, const std::string&, std::optional<Duration>,
                int64_t) override {
    return false;
  }
  const TemplateDef* find_template(const std::string&) override { return nullptr; }
};

CompiledJourney three_steps(const AudienceSchema& s) {
  return compile_journey(Json::parse(R"({"name": "j", "audience": "public.people", "start": "a",
      "steps": [{"key": "a", "type": "send", "channel": "c", "payload": {}, "next": "b"},
                {"key": "b", "type": "send", "channel": "c", "payload": {}, "next": "c"},
                {"key": "c", "type": "call", "function": "public.f"}]})"),
                         s, 1, 1);
}

std::vector<std::string> messages(const std::vector<Issue>& issues) {
  std::vector<std::string> out;
  for (const Issue& i : issues) out.push_back(i.step_key + ": " + i.severity + ": " + i.message);
  return out;
}

// An enrollment of customer p1 at the start of three_steps, whose call step fails.
struct FailingStep : ::testing::Test {
  AudienceSchema s = people();
  CompiledJourney j = three_steps(s);
  FailingCall rt;
  Enrollment e;
  std::vector<Value> row = {std::string("p1")};
  void SetUp() override { e.step = j.start; }
};

}  // namespace

TEST_F(FailingStep, ProgressNamesTheStepThatFailed) {
  RunProgress progress;
  EXPECT_THROW(run_enrollment(j, s, e, row, 1000, rt, kMaxStepsPerRun, nullptr, &progress),
               std::runtime_error);
  ASSERT_GE(progress.step, 0);
  EXPECT_EQ(j.steps[progress.step].key, "c");
  EXPECT_EQ(progress.visits, 2);
}

TEST_F(FailingStep, ReplayStopsAtTheStepThatFailed) {
  RunResult r = run_enrollment(j, s, e, row, 1000, rt, kMaxStepsPerRun, nullptr, nullptr, 2);
  EXPECT_EQ(rt.calls, 0);  // c is not run again
  EXPECT_EQ(r.outcome, RunResult::Outcome::Parked);
  EXPECT_EQ(j.steps[r.step].key, "c");
  EXPECT_FALSE(r.parked);
  EXPECT_EQ(r.next_run_at, 1000);  // due at once: the caller charges the failure there
  ASSERT_EQ(r.visits_log.size(), 2u);
  EXPECT_EQ(r.visits_log[0].step_key, "a");
  EXPECT_EQ(r.visits_log[1].step_key, "b");
  EXPECT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.visits, 2);
}

TEST(ExitRuleNames, CharactersNotBytesAndAnyCase) {
  AudienceSchema s = people();
  ValidationEnv env;
  env.audience = &s;
  Json d = Json::parse(R"({"name": "j", "audience": "public.people", "start": "a",
                           "steps": [{"key": "a", "type": "send", "channel": "c",
                                      "payload": {}}]})");
  // 63 two-byte characters (126 bytes) pass; 64 do not.
  std::string e63;
  for (int i = 0; i < 63; ++i) e63 += "\xC3\xA9";  // é
  d["exit"] = Json::array({{{"type", "event"}, {"event", "x"}, {"name", e63}}});
  EXPECT_EQ(messages(validate_journey(d, env)), std::vector<std::string>{});
  d["exit"][0]["name"] = e63 + "\xC3\xA9";
  EXPECT_EQ(messages(validate_journey(d, env)),
            (std::vector<std::string>{
                "exit[0]: error: \"name\" of an exit rule must have 1 to 63 characters"}));
  d["exit"] = Json::parse(R"([{"type": "event", "event": "a", "name": "Manual"},
      {"type": "event", "event": "b", "name": "ARCHIVED"},
      {"type": "event", "event": "c", "name": "manual: refund"},
      {"type": "event", "event": "d", "name": "Exit Rule 1"},
      {"type": "event", "event": "e", "name": "manually"}])");
  EXPECT_EQ(
      messages(validate_journey(d, env)),
      (std::vector<std::string>{
          "exit[0]: error: exit rule name \"Manual\" is an exit reason pg_journey records itself "
          "(archived, manual, reentered, customer_deleted)",
          "exit[1]: error: exit rule name \"ARCHIVED\" is an exit reason pg_journey records "
          "itself (archived, manual, reentered, customer_deleted)",
          "exit[2]: error: exit rule name \"manual: refund\" must not start with \"manual:\" (the "
          "reasons of journey.exit())",
          "exit[3]: error: exit rule name \"Exit Rule 1\" must not start with \"exit rule \""}));
}

}  // namespace PGJ_UNIT_ID
