// compile_definition: one pass over a journey definition yields both the
// validator's issues and the engine's compiled form (src/core/compile.hpp).
#include <gtest/gtest.h>

#include "core/compile.hpp"
#include "core/error.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

AudienceSchema people() {
  AudienceSchema s = pgj::unit::audience_schema("public.people");
  s.columns = {{"id", ValueType::Int, "bigint"},
               {"email", ValueType::Text, "text"},
               {"plan", ValueType::Text, "text"},
               {"renews_at", ValueType::Timestamp, "timestamp with time zone"},
               {"vip", ValueType::Bool, "boolean"}};
  s.email_column = 1;
  return s;
}

Json definition(const char* steps, const char* settings = "{}", const char* exit = "[]") {
  Json d = Json::parse(R"({"name": "j", "audience": "public.people", "start": "a",
                           "entry": [{"type": "manual"}]})");
  d["steps"] = Json::parse(steps);
  d["settings"] = Json::parse(settings);
  d["exit"] = Json::parse(exit);
  return d;
}

// "key: message" of every issue, in order.
std::vector<std::string> messages(const std::vector<Issue>& issues) {
  std::vector<std::string> out;
  for (const Issue& i : issues) out.push_back(i.step_key + ": " + i.message);
  return out;
}

struct Compile : ::testing::Test {
  AudienceSchema schema = people();
  ValidationEnv env;
  void SetUp() override { env.audience = &schema; }
};

// A valid definition: no issues, and the compiled form is what the engine runs.
TEST_F(Compile, ValidDefinitionYieldsTheCompiledJourney) {
  Json d = definition(
      R"([{"key": "a", "type": "send_email", "template": "hello", "to_field": "plan", "next": "b"},
          {"key": "b", "type": "delay", "until": {"time": "09:30", "days": ["mon", "fri"],
                                                 "timezone": "customer"}, "next": "c"},
          {"key": "c", "type": "branch", "cases": [{"name": "gold", "when":
             {"field": "plan", "op": "eq", "value": "gold"}}], "branches": {"gold": "d", "else": "e"}},
          {"key": "d", "type": "split", "variants": [{"name": "x", "weight": 1},
                                                     {"name": "y", "weight": 3}],
           "branches": {"x": "e", "y": "e"}},
          {"key": "e", "type": "update_field", "set": {"vip": true, "renews_at": {"now": true}},
           "next": "f"},
          {"key": "f", "type": "wait_for_event", "event": "opened", "message_of": "a",
           "timeout": "2 days", "branches": {"event": "g", "timeout": "g"}},
          {"key": "g", "type": "exit"}])",
      R"({"reentry": "after_exit", "quiet_hours": {"start": "21:00", "end": "08:00"},
          "frequency_cap": {"max": 3, "per": "1 day"}, "max_attempts": 7})",
      R"([{"type": "event", "event": "bought", "name": "bought", "is_goal": true},
          {"type": "condition", "when": {"field": "vip", "op": "eq", "value": false}}])");
  Compilation c = compile_definition(d, env);
  EXPECT_EQ(messages(c.issues), std::vector<std::string>{});
  EXPECT_EQ(messages(c.issues), messages(validate_journey(d, env)));
  ASSERT_TRUE(c.usable()) << c.unusable_where << ": " << c.unusable_why;
  const CompiledJourney& j = c.journey;
  EXPECT_EQ(j.name, "j");
  ASSERT_EQ(j.steps.size(), 7u);
  EXPECT_EQ(j.start, 0);
  EXPECT_EQ(j.find("e"), 4);
  EXPECT_EQ(j.steps[0].channel, "email");
  EXPECT_EQ(j.steps[0].template_name, "hello");
  EXPECT_EQ(j.steps[0].to_field, 2);
  EXPECT_EQ(j.steps[0].target("next"), 1);
  EXPECT_EQ(j.steps[1].delay_kind, CompiledStep::DelayKind::Until);
  EXPECT_EQ(j.steps[1].until_time_sec, 9 * 3600 + 30 * 60);
  EXPECT_EQ(j.steps[1].until_days, (1u << 1) | (1u << 5));
  EXPECT_EQ(j.steps[1].until_timezone, "customer");
  ASSERT_EQ(j.steps[2].cases.size(), 1u);
  EXPECT_EQ(j.steps[2].cases[0].first, "gold");
  EXPECT_EQ(j.steps[2].cases[0].second.columns_read, std::vector<int>{2});
  EXPECT_EQ(j.steps[2].target("else"), 4);
  EXPECT_EQ(j.steps[3].variant_names, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(j.steps[3].variant_weights, (std::vector<double>{1, 3}));
  ASSERT_EQ(j.steps[4].set.size(), 2u);
  EXPECT_EQ(j.steps[4].set[0].first, 3);  // renews_at (JSON objects keep keys sorted)
  EXPECT_EQ(j.steps[4].set[1], (std::pair<int, Json>{4, true}));
  EXPECT_EQ(j.steps[5].event, "opened");
  EXPECT_EQ(j.steps[5].message_of, "a");
  ASSERT_TRUE(j.steps[5].timeout.has_value());
  EXPECT_EQ(j.steps[5].timeout->days, 2);
  EXPECT_EQ(j.settings.reentry, JourneySettings::Reentry::AfterExit);
  ASSERT_TRUE(j.settings.quiet_hours.has_value());
  EXPECT_EQ(j.settings.quiet_hours->start_sec, 21 * 3600);
  EXPECT_EQ(j.settings.quiet_hours->end_sec, 8 * 3600);
  ASSERT_TRUE(j.settings.frequency_cap.has_value());
  EXPECT_EQ(j.settings.frequency_cap->max, 3);
  EXPECT_EQ(j.settings.max_attempts, 7);
  ASSERT_EQ(j.exit_rules.size(), 2u);
  EXPECT_EQ(j.exit_rules[0].kind, CompiledExitRule::Kind::Event);
  EXPECT_EQ(j.exit_rules[0].event, "bought");
  EXPECT_TRUE(j.exit_rules[0].is_goal);
  EXPECT_EQ(exit_reason_of(j.exit_rules[0]), "bought");
  EXPECT_EQ(j.exit_rules[1].kind, CompiledExitRule::Kind::Condition);
  EXPECT_EQ(exit_reason_of(j.exit_rules[1]), "exit rule exit[1]");
}

// Rules the engine does not need are reported, and the compiled form is still
// complete: a version published before a rule existed keeps running.
TEST_F(Compile, RulesTheEngineDoesNotNeedOnlyReport) {
  Json d = definition(
      R"([{"key": "a", "type": "delay", "duration": "-1 hour", "next": "b"},
          {"key": "b", "type": "branch", "cases": [
             {"name": "p", "when": {"field": "plan", "op": "eq", "value": "p"}},
             {"name": "p", "when": {"field": "plan", "op": "eq", "value": "q"}}],
           "branches": {"p": "c", "else": "c"}},
          {"key": "c", "type": "goal", "colour": "red"}])",
      R"({"max_attempts": 1000})");
  Compilation c = compile_definition(d, env);
  EXPECT_EQ(messages(c.issues),
            (std::vector<std::string>{
                "settings: max_attempts must be an integer from 1 to 100, got 1000",
                "a: \"duration\" must be a positive duration, got \"-1 hour\"",
                "b: duplicate case name \"p\" in step \"b\"", "c: unknown config key \"colour\""}));
  EXPECT_EQ(messages(c.issues), messages(validate_journey(d, env)));
  ASSERT_TRUE(c.usable()) << c.unusable_where << ": " << c.unusable_why;
  EXPECT_EQ(c.journey.settings.max_attempts, 1000);
  EXPECT_EQ(c.journey.steps[0].duration.micros, -3600LL * 1000000);
  EXPECT_EQ(c.journey.steps[1].cases.size(), 2u);
}

// What the engine cannot run with makes the compiled form unusable, at the
// first such part, for the issue reported there; compile_journey says so.
TEST_F(Compile, WhatTheEngineCannotRunIsUnusable) {
  Json d = definition(
      R"([{"key": "a", "type": "send_email", "next": "u"},
          {"key": "u", "type": "update_field", "set": {"tier": "gold"}}])");
  Compilation c = compile_definition(d, env);
  EXPECT_EQ(
      messages(c.issues),
      (std::vector<std::string>{"a: step \"a\" (send_email) needs \"template\"",
                                "u: column \"tier\" of audience public.people does not exist"}));
  EXPECT_FALSE(c.usable());
  EXPECT_EQ(c.unusable_where, "step \"a\"");
  EXPECT_EQ(c.unusable_why, "step \"a\" (send_email) needs \"template\"");
  try {
    compile_journey(d, schema, 1, 1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "XX000");
    EXPECT_STREQ(e.what(),
                 "cannot compile step \"a\" of a published journey: step \"a\" (send_email) needs "
                 "\"template\"");
  }

  Json exit = definition(R"([{"key": "a", "type": "goal"}])", "{}",
                         R"([{"type": "condition", "when": {"field": "vip", "op": "eq",
                                                             "value": "yes"}}])");
  c = compile_definition(exit, env);
  EXPECT_FALSE(c.usable());
  EXPECT_EQ(c.unusable_where, "exit[0]");
  EXPECT_EQ(messages(c.issues), std::vector<std::string>{"exit[0]: " + c.unusable_why});
}

// Without an audience the issues are complete but nothing is compiled against
// columns: the compiled form is not usable.
TEST_F(Compile, WithoutAnAudienceOnlyIssues) {
  ValidationEnv offline;
  offline.audience_unchecked = true;
  Json d = definition(R"([{"key": "a", "type": "goal", "colour": 1}])");
  Compilation c = compile_definition(d, offline);
  EXPECT_EQ(messages(c.issues), std::vector<std::string>{"a: unknown config key \"colour\""});
  EXPECT_FALSE(c.usable());
}

// parse_settings reads settings through the same parser: null is the
// default, a value it cannot read is an internal error.
TEST(CompileSettings, ParseSettingsSharesTheParser) {
  JourneySettings s = parse_settings(Json::parse(
      R"({"reentry": null, "timezone": "Europe/Paris", "holdout_percent": 12.5,
          "max_step_visits": 50, "entity_property": "order_id", "transactional": true})"));
  EXPECT_EQ(s.reentry, JourneySettings::Reentry::Never);
  EXPECT_EQ(s.timezone, "Europe/Paris");
  EXPECT_EQ(s.holdout_percent, 12.5);
  EXPECT_EQ(s.max_step_visits, 50);
  EXPECT_EQ(s.entity_property, "order_id");
  try {
    parse_settings(Json::parse(R"({"frequency_cap": {"max": 2, "per": "soon"}})"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "XX000");
    EXPECT_EQ(std::string(e.what()).rfind("cannot compile settings of a published journey: "
                                          "\"frequency_cap.per\": ",
                                          0),
              0u)
        << e.what();
  }
}

}  // namespace

}  // namespace PGJ_UNIT_ID
