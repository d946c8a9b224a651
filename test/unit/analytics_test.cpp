// Issue 10 ("Reports an analyst can trust") in the core: exit rules can be
// named, the exit reason is the name (unnamed: "exit rule exit[N]"), the
// engine says whether a goal rule ended the run, and the validator checks the
// names.
#include <gtest/gtest.h>

#include "core/condition.hpp"
#include "core/engine.hpp"
#include "core/validator.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

AudienceSchema audience() {
  AudienceSchema s = pgj::unit::audience_schema("public.people");
  s.columns = {{"id", ValueType::Text, "text"}, {"unsubscribed", ValueType::Bool, "boolean"}};
  return s;
}

Json definition(const char* exit) {
  Json d = Json::parse(R"({"name": "j", "audience": "public.people", "start": "a",
                           "steps": [{"key": "a", "type": "send", "channel": "c",
                                      "payload": {}}]})");
  d["exit"] = Json::parse(exit);
  return d;
}

struct NoRuntime : Runtime {
  int64_t add_duration(int64_t ts, const Duration&, const std::string&) override { return ts; }
  int64_t next_local_time(int64_t after, int, uint8_t, const std::string&) override {
    return after;
  }
  Json call_function(const std::string&, const std::string&, const Json&) override {
    return Json::object();
  }
  bool happened(const Enrollment&, const std::string&, const std::string&, std::optional<Duration>,
                int64_t) override {
    return false;
  }
  const TemplateDef* find_template(const std::string&) override { return nullptr; }
};

std::vector<std::string> messages(const std::vector<Issue>& issues) {
  std::vector<std::string> out;
  for (const Issue& i : issues) out.push_back(i.step_key + ": " + i.severity + ": " + i.message);
  return out;
}

}  // namespace

TEST(ExitRuleNames, ReasonIsTheNameOrThePosition) {
  AudienceSchema s = audience();
  CompiledJourney j = compile_journey(definition(R"([{"type": "event", "event": "x"},
                     {"type": "condition", "name": "unsubscribed", "is_goal": true,
                      "when": {"field": "unsubscribed", "op": "eq", "value": true}}])"),
                                      s, 1, 1);
  ASSERT_EQ(j.exit_rules.size(), 2u);
  EXPECT_EQ(exit_reason_of(j.exit_rules[0]), "exit rule exit[0]");
  EXPECT_EQ(exit_reason_of(j.exit_rules[1]), "unsubscribed");
  // The same from a rule's stored name and position (track, the drawings).
  EXPECT_EQ(exit_reason_of("", 0), "exit rule exit[0]");
  EXPECT_EQ(exit_reason_of("", 3), "exit rule exit[3]");
  EXPECT_EQ(exit_reason_of("unsubscribed", 1), "unsubscribed");

  // The engine's own check ends the run with that reason and says a goal rule did it.
  NoRuntime rt;
  Enrollment e;
  e.step = j.start;
  std::vector<Value> row = {std::string("p1"), true};
  RunResult r = run_enrollment(j, s, e, row, 1000, rt);
  EXPECT_EQ(r.outcome, RunResult::Outcome::Exited);
  EXPECT_EQ(r.exit_reason, "unsubscribed");
  EXPECT_TRUE(r.exit_goal);
  EXPECT_EQ(r.converted_at, 1000);
  EXPECT_TRUE(r.visits_log.empty());
}

TEST(ExitRuleNames, ValidatorChecksNames) {
  AudienceSchema s = audience();
  ValidationEnv env;
  env.audience = &s;
  auto issues = validate_journey(definition(R"([
      {"type": "event", "event": "a", "name": "gone"},
      {"type": "event", "event": "b", "name": "gone"},
      {"type": "event", "event": "c", "name": "customer_deleted"},
      {"type": "event", "event": "d", "name": ""},
      {"type": "event", "event": "e", "name": ["x"]},
      {"type": "event", "event": "f", "name": "exit rule 9"},
      {"type": "condition", "name": "ok", "when": {"field": "unsubscribed", "op": "eq", "value": true}},
      {"type": "event", "event": "g", "name": null}])"),
                                 env);
  EXPECT_EQ(
      messages(issues),
      (std::vector<std::string>{
          "exit[1]: error: exit rule name \"gone\" is used twice",
          "exit[2]: error: exit rule name \"customer_deleted\" is an exit reason pg_journey "
          "records itself (archived, manual, reentered, customer_deleted)",
          "exit[3]: error: \"name\" of an exit rule must have 1 to 63 characters",
          "exit[4]: error: \"name\" of an exit rule must be a string",
          "exit[5]: error: exit rule name \"exit rule 9\" must not start with \"exit rule \""}));
  // 63 characters pass, 64 do not.
  std::string ok(63, 'n');
  Json d = definition("[]");
  d["exit"] = Json::array({{{"type", "event"}, {"event", "x"}, {"name", ok}}});
  EXPECT_TRUE(validate_journey(d, env).empty());
  d["exit"][0]["name"] = ok + "n";
  EXPECT_EQ(validate_journey(d, env).size(), 1u);
}

}  // namespace PGJ_UNIT_ID
