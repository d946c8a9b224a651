// The validator's checks of the builder's "layout" member (step positions on
// the canvas) and of offline validation without an audience (journeyctl
// validate --offline).
#include <gtest/gtest.h>

#include "core/validator.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

Json journey() {
  return Json::parse(R"({"name": "j", "audience": "public.customers", "start": "a",
    "entry": [{"type": "manual"}],
    "steps": [{"key": "a", "type": "delay", "duration": "1 day", "next": "b"},
              {"key": "b", "type": "condition", "if": {"field": "plan", "op": "eq", "value": "pro"}}]})");
}

AudienceSchema customers() {
  AudienceSchema s = pgj::unit::audience_schema("public.customers");
  s.columns = {{"id", ValueType::Int, "bigint"}, {"plan", ValueType::Text, "text"}};
  return s;
}

std::string messages(const std::vector<Issue>& issues) {
  std::string s;
  for (const Issue& i : issues) s += i.step_key + "|" + i.severity + "|" + i.message + "\n";
  return s;
}

}  // namespace

TEST(Layout, APositionPerStepIsValid) {
  AudienceSchema s = customers();
  ValidationEnv env;
  env.audience = &s;
  Json def = journey();
  def["layout"] = {{"a", {{"x", 0}, {"y", 10.5}}}, {"b", {{"x", -3}, {"y", 200}}}};
  EXPECT_EQ(messages(validate_journey(def, env)), "");
}

TEST(Layout, BadLayoutsAreErrors) {
  AudienceSchema s = customers();
  ValidationEnv env;
  env.audience = &s;
  Json def = journey();
  def["layout"] = Json::array();
  EXPECT_EQ(messages(validate_journey(def, env)),
            "|error|\"layout\" must be an object {\"step key\": {\"x\": 0, \"y\": 0}}\n");
  def["layout"] = {{"ghost", {{"x", 0}, {"y", 0}}}, {"a", {{"x", "left"}, {"y", 0}}}};
  EXPECT_EQ(messages(validate_journey(def, env)),
            "a|error|layout of step \"a\" must be {\"x\": number, \"y\": number}, got "
            "{\"x\":\"left\",\"y\":0}\n"
            "|error|\"layout\" names step \"ghost\", which the journey does not have\n");
}

TEST(Offline, NoAudienceMeansNoColumnChecks) {
  ValidationEnv env;
  Json def = journey();
  EXPECT_EQ(messages(validate_journey(def, env)),
            "|error|audience \"public.customers\" is not registered (journey.register_audience)\n");
  env.audience_unchecked = true;
  EXPECT_EQ(messages(validate_journey(def, env)), "");
  def["steps"][0]["duration"] = "1 dayz";
  EXPECT_EQ(messages(validate_journey(def, env)),
            "a|error|\"duration\": invalid duration \"1 dayz\": unknown unit \"dayz\"\n");
}

}  // namespace PGJ_UNIT_ID
