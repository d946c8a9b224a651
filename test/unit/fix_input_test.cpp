// A message payload nested far deeper than any real one is refused with an
// issue, not walked recursively until the stack overflows (journeyctl validate
// of a payload nested 100,000 deep was a SIGSEGV).
#include <gtest/gtest.h>

#include <string>

#include "core/validator.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

// A journey whose one send step's payload is {"a": [[...]]} with `arrays`
// nested arrays: the payload nests 1 + arrays levels deep.
Json journey_with_payload(int arrays) {
  std::string payload = "{\"a\": " + std::string(arrays, '[') + std::string(arrays, ']') + "}";
  Json step = {{"key", "s"}, {"type", "send"}, {"channel", "push"}};
  step["payload"] = Json::parse(payload);
  return {{"name", "deep"},
          {"audience", "public.customers"},
          {"start", "s"},
          {"steps", Json::array({step})}};
}

std::vector<Issue> nesting_issues(int arrays) {
  AudienceSchema schema;
  schema.relation = "public.customers";
  schema.key_column = "id";
  schema.columns = {{"id", ValueType::Int, "bigint"}};
  ValidationEnv env;
  env.audience = &schema;
  std::vector<Issue> found;
  for (const Issue& issue : validate_journey(journey_with_payload(arrays), env))
    if (issue.message.find("nested too deeply") != std::string::npos) found.push_back(issue);
  return found;
}

}  // namespace

TEST(FixInputPayloadDepth, HundredLevelsAreAccepted) {
  EXPECT_TRUE(nesting_issues(99).empty());
}

TEST(FixInputPayloadDepth, OneLevelMoreIsOneIssueNamingTheStep) {
  auto issues = nesting_issues(100);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].step_key, "s");
  EXPECT_EQ(issues[0].message,
            "payload nested too deeply (more than 100 levels of arrays and objects)");
}

TEST(FixInputPayloadDepth, HundredThousandLevelsDoNotOverflowTheStack) {
  auto issues = nesting_issues(100000);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].step_key, "s");
}

// F9: split weights whose sum overflows a double are refused (every customer
// landed in the last variant); large weights whose sum is finite stay valid.
namespace {
std::vector<Issue> split_issues(double a, double b) {
  AudienceSchema schema;
  schema.relation = "public.customers";
  schema.key_column = "id";
  schema.columns = {{"id", ValueType::Int, "bigint"}};
  ValidationEnv env;
  env.audience = &schema;
  Json def = {{"name", "w"},
              {"audience", "public.customers"},
              {"start", "s"},
              {"steps", Json::array({{{"key", "s"},
                                      {"type", "split"},
                                      {"variants", Json::array({{{"name", "a"}, {"weight", a}},
                                                                {{"name", "b"}, {"weight", b}},
                                                                {{"name", "c"}, {"weight", 1}}})},
                                      {"branches", {{"a", "e"}, {"b", "e"}, {"c", "e"}}}},
                                     {{"key", "e"}, {"type", "exit"}}})}};
  std::vector<Issue> found;
  for (const Issue& issue : validate_journey(def, env))
    if (issue.severity == "error") found.push_back(issue);
  return found;
}
}  // namespace

TEST(FixInputSplitWeights, OverflowingSumIsAnError) {
  auto issues = split_issues(1e308, 1e308);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].step_key, "s");
  EXPECT_NE(issues[0].message.find("add up to more than the largest number"), std::string::npos)
      << issues[0].message;
}

TEST(FixInputSplitWeights, LargeFiniteWeightsAreValid) {
  EXPECT_TRUE(split_issues(1e300, 1e300).empty());
}

}  // namespace PGJ_UNIT_ID
