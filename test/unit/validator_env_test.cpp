// The validator asks the database about scheduled triggers: whether the
// installed pg_cron accepts a schedule, and whether a segment's SQL query plans
// as the journey owner. Their answers become errors of the trigger.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/validator.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

AudienceSchema people() {
  AudienceSchema s = pgj::unit::audience_schema("public.people");
  s.columns = {{"id", ValueType::Int, "bigint"},
               {"plan", ValueType::Text, "text"},
               {"born", ValueType::Date, "date"}};
  return s;
}

Json journey_with(const std::string& entry) {
  return Json::parse(R"({"name": "j", "audience": "public.people", "start": "a",
    "steps": [{"key": "a", "type": "goal"}], "entry": [)" +
                     entry + "]}");
}

std::vector<Issue> errors_of(const Json& definition, const ValidationEnv& env) {
  std::vector<Issue> out;
  for (const Issue& issue : validate_journey(definition, env))
    if (issue.severity == "error") out.push_back(issue);
  return out;
}

}  // namespace

TEST(ValidatorEnv, ScheduleRefusedByTheInstalledScheduler) {
  AudienceSchema schema = people();
  ValidationEnv env;
  env.audience = &schema;
  std::vector<std::string> asked;
  env.check_schedule = [&](const std::string& schedule) -> std::string {
    asked.push_back(schedule);
    return schedule == "30 seconds" ? "invalid schedule: 30 seconds" : "";
  };
  auto issues = errors_of(
      journey_with(
          R"({"type": "segment", "schedule": "30 seconds", "when": {"field": "plan", "op": "eq", "value": "x"}},
                      {"type": "date", "schedule": "0 9 * * *", "field": "born"})"),
      env);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].step_key, "entry[0]");
  EXPECT_EQ(issues[0].message,
            "schedule \"30 seconds\" of segment entry trigger is refused by the installed pg_cron: "
            "invalid schedule: 30 seconds");
  EXPECT_EQ(asked, (std::vector<std::string>{"30 seconds", "0 9 * * *"}));
}

TEST(ValidatorEnv, ScheduleOfBadSyntaxIsNotAskedAbout) {
  AudienceSchema schema = people();
  ValidationEnv env;
  env.audience = &schema;
  int asked = 0;
  env.check_schedule = [&](const std::string&) -> std::string {
    ++asked;
    return "";
  };
  auto issues = errors_of(
      journey_with(R"({"type": "date", "schedule": "61 * * * *", "field": "born"})"), env);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(asked, 0);
}

TEST(ValidatorEnv, SegmentQueryThatDoesNotPlan) {
  AudienceSchema schema = people();
  ValidationEnv env;
  env.audience = &schema;
  env.check_segment_query = [](const std::string& query) -> std::string {
    return query.find("secret") != std::string::npos ? "permission denied for table secret" : "";
  };
  auto issues = errors_of(
      journey_with(R"({"type": "segment", "schedule": "@daily", "query": "SELECT id FROM secret"},
                      {"type": "segment", "schedule": "@daily", "query": "SELECT id FROM public.people"})"),
      env);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].step_key, "entry[0]");
  EXPECT_EQ(
      issues[0].message,
      "\"query\" of segment entry trigger does not plan as the journey owner: permission denied "
      "for table secret");
}

TEST(ValidatorEnv, WithoutCallbacksNothingIsAsked) {
  AudienceSchema schema = people();
  ValidationEnv env;
  env.audience = &schema;
  EXPECT_TRUE(
      errors_of(
          journey_with(R"({"type": "segment", "schedule": "30 seconds", "query": "SELECT 1"})"),
          env)
          .empty());
}

}  // namespace PGJ_UNIT_ID
