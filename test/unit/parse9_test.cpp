// Issue 9, "one compile, no second parser of configs" (audit-9b 2a, S9, S12):
// the validator reports what the compilers of scheduled triggers find (one
// parser each), a segment's member source is compiled in core, and which
// steps send on a channel's recipient column comes from the one compile of a
// definition.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/compile.hpp"
#include "core/engine.hpp"
#include "core/error.hpp"
#include "core/schedule_rules.hpp"
#include "core/validator.hpp"
#include "fixtures.hpp"

namespace pgj::core {
namespace PGJ_UNIT_ID {
namespace {

// customers(id, email, phone, signup_at timestamptz, plan text), e-mail column
// "email", channel "sms" on "phone".
AudienceSchema customers() {
  AudienceSchema s = unit::audience_schema("public.customers");
  s.columns = {{"id", ValueType::Int, "bigint"},
               {"email", ValueType::Text, "text"},
               {"phone", ValueType::Text, "text"},
               {"signup_at", ValueType::Timestamp, "timestamp with time zone"},
               {"plan", ValueType::Text, "text"}};
  s.email_column = 1;
  s.recipients = {{"sms", 2}};
  return s;
}

// The error messages validate_journey reports for entry[0] of a manual-start
// journey whose only entry trigger is `trigger`.
std::vector<std::string> trigger_errors(const Json& trigger) {
  AudienceSchema schema = customers();
  ValidationEnv env;
  env.audience = &schema;
  Json def = unit::journey_def("public.customers", R"([{"key": "end", "type": "exit"}])");
  def["entry"] = Json::array({trigger});
  std::vector<std::string> out;
  for (const Issue& issue : validate_journey(def, env))
    if (issue.step_key == "entry[0]" && issue.severity == "error") out.push_back(issue.message);
  return out;
}

// The problems the compiler finds in a config (what compile_* throws first).
template <typename Check>
std::vector<std::string> problems_of(Check check, const char* config) {
  std::vector<std::string> problems;
  check(Json::parse(config), problems);
  return problems;
}

std::string thrown(DateTrigger (*compile)(const Json&), const char* config) {
  try {
    compile(Json::parse(config));
  } catch (const Error& e) {
    return e.sqlstate() + ": " + e.what();
  }
  return "(compiled)";
}

std::string thrown_segment(const char* config) {
  try {
    compile_segment_trigger(Json::parse(config));
  } catch (const Error& e) {
    return e.sqlstate() + ": " + e.what();
  }
  return "(compiled)";
}

// The validator and compile_date_trigger disagreed: the validator refused
// "recurring": null and "offset": null, the compiler took them for absent.
// One reading now, the validator's since 0.1: null is not absent, so no
// published trigger can carry one and the compiler refuses it too, with the
// validator's words.
TEST(Parse9DateTrigger, NullRecurringAndOffsetRefusedByBoth) {
  const char* null_recurring =
      R"({"type": "date", "schedule": "@daily", "field": "signup_at", "recurring": null})";
  const std::string recurring =
      "\"recurring\" of date entry trigger must be \"yearly\" (anniversaries) or absent";
  EXPECT_EQ(trigger_errors(Json::parse(null_recurring)), std::vector<std::string>{recurring});
  EXPECT_EQ(thrown(compile_date_trigger, null_recurring), "22023: " + recurring);

  const char* null_offset =
      R"({"type": "date", "schedule": "@daily", "field": "signup_at", "offset": null})";
  const std::string offset = "\"offset\" must be a duration string like \"2 days\", got null";
  EXPECT_EQ(trigger_errors(Json::parse(null_offset)), std::vector<std::string>{offset});
  EXPECT_EQ(thrown(compile_date_trigger, null_offset), "22023: " + offset);
}

// Every problem the compiler finds is an issue of the validator, word for
// word and in order, and the validator adds only the column's check against
// the audience (its type, its existence).
TEST(Parse9DateTrigger, ValidatorReportsTheCompilersProblems) {
  const char* configs[] = {
      R"({"type": "date", "schedule": "@daily"})",
      R"({"type": "date", "schedule": "@daily", "field": 3, "offset": "soon"})",
      R"({"type": "date", "schedule": "@daily", "field": "", "recurring": "monthly"})",
      R"({"type": "date", "schedule": "@daily", "field": "signup_at", "offset": "9000 years"})",
      R"({"type": "date", "schedule": "@daily", "field": "signup_at", "offset": 3,
          "recurring": true})",
  };
  for (const char* config : configs) {
    std::vector<std::string> problems = problems_of(check_date_trigger, config);
    EXPECT_FALSE(problems.empty()) << config;
    EXPECT_EQ(trigger_errors(Json::parse(config)), problems) << config;
    EXPECT_EQ(thrown(compile_date_trigger, config), "22023: " + problems.front()) << config;
  }
  EXPECT_EQ(problems_of(check_date_trigger, configs[1]),
            (std::vector<std::string>{"\"field\" must be a column name",
                                      "\"offset\": invalid duration \"soon\": expected a "
                                      "number before \"soon\""}));
  // The column check stays the validator's (the compiler has no audience),
  // before the offset's problem as it always was.
  EXPECT_EQ(trigger_errors(Json::parse(
                R"({"type": "date", "schedule": "@daily", "field": "plan", "offset": "soon"})")),
            (std::vector<std::string>{
                "\"field\" column \"plan\" must be a timestamp or date column (column type text)",
                "\"offset\": invalid duration \"soon\": expected a number before \"soon\""}));
  EXPECT_EQ(
      trigger_errors(Json::parse(R"({"type": "date", "schedule": "@daily", "field": "nope"})")),
      std::vector<std::string>{
          "column \"nope\" (\"field\") does not exist in audience public.customers"});
  // A valid config: no issue, and what the due rule runs.
  const char* birthday =
      R"({"type": "date", "schedule": "@daily", "field": "signup_at", "offset": "-3 days",
          "recurring": "yearly"})";
  EXPECT_EQ(trigger_errors(Json::parse(birthday)), std::vector<std::string>{});
  DateTrigger t = compile_date_trigger(Json::parse(birthday));
  EXPECT_EQ(t.field, "signup_at");
  EXPECT_EQ(t.offset, (Duration{0, -3, 0}));
  EXPECT_TRUE(t.yearly);
}

// A segment's config is compiled once (compile_segment_trigger): its member
// source for the run, its shape problems for the validator.
TEST(Parse9SegmentTrigger, CompilesTheMemberSource) {
  SegmentTrigger by_query =
      compile_segment_trigger(Json::parse(R"({"schedule": "@daily", "query": "SELECT 1"})"));
  EXPECT_EQ(by_query.query, std::optional<std::string>("SELECT 1"));
  EXPECT_FALSE(by_query.when);
  SegmentTrigger by_condition = compile_segment_trigger(Json::parse(
      R"({"schedule": "@daily", "when": {"field": "plan", "op": "eq", "value": "pro"}})"));
  EXPECT_FALSE(by_condition.query);
  ASSERT_TRUE(by_condition.when);
  EXPECT_EQ(*by_condition.when, Json::parse(R"({"field": "plan", "op": "eq", "value": "pro"})"));

  const std::string exactly_one =
      "segment entry trigger needs exactly one of \"when\" (a condition) or \"query\" (SQL)";
  const std::string non_empty = "\"query\" of segment entry trigger must be a non-empty string";
  EXPECT_EQ(thrown_segment(R"({"schedule": "@daily"})"), "22023: " + exactly_one);
  EXPECT_EQ(thrown_segment(R"({"query": "SELECT 1", "when": {"field": "plan", "op": "exists"}})"),
            "22023: " + exactly_one);
  EXPECT_EQ(thrown_segment(R"({"query": ""})"), "22023: " + non_empty);
  EXPECT_EQ(thrown_segment(R"({"query": null})"), "22023: " + non_empty);
  EXPECT_EQ(thrown_segment(R"([])"), "22023: " + exactly_one);
}

TEST(Parse9SegmentTrigger, ValidatorReportsTheCompilersProblems) {
  const char* configs[] = {
      R"({"type": "segment", "schedule": "@daily"})",
      R"({"type": "segment", "schedule": "@daily", "query": ""})",
      R"({"type": "segment", "schedule": "@daily", "query": 7})",
  };
  for (const char* config : configs) {
    std::vector<std::string> problems = problems_of(check_segment_trigger, config);
    EXPECT_FALSE(problems.empty()) << config;
    EXPECT_EQ(trigger_errors(Json::parse(config)), problems) << config;
  }
  // The condition is the condition compiler's, against the audience.
  std::vector<std::string> errors = trigger_errors(Json::parse(
      R"({"type": "segment", "schedule": "@daily", "when": {"field": "nope", "op": "exists"}})"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("\"nope\""), std::string::npos) << errors[0];
  EXPECT_EQ(trigger_errors(Json::parse(R"({"type": "segment", "schedule": "@daily",
                                           "when": {"field": "plan", "op": "eq", "value": "pro"}})")),
            std::vector<std::string>{});
}

// Which steps send on a channel's recipient column (what _set_recipients
// refuses to remove while a live version has them): the compiled steps, as
// the engine addresses them: send_email on "email" unless it has "to_field",
// send on its channel; no other step.
TEST(Parse9ChannelsSent, FromTheCompiledDefinition) {
  AudienceSchema schema = customers();
  ValidationEnv env;
  env.audience = &schema;
  Json def = unit::journey_def("public.customers", R"([
      {"key": "hello", "type": "send_email", "template": "t", "next": "direct"},
      {"key": "direct", "type": "send_email", "template": "t", "to_field": "plan", "next": "text"},
      {"key": "text", "type": "send", "channel": "sms", "payload": {"body": "hi"}, "next": "push"},
      {"key": "push", "type": "send", "channel": "push", "template": "p", "next": "wait"},
      {"key": "wait", "type": "delay", "duration": "1 day", "next": "end"},
      {"key": "end", "type": "exit"}])");
  Compilation c = compile_definition(def, env);
  ASSERT_TRUE(c.usable()) << c.unusable_message();
  EXPECT_EQ(channels_sent(c.journey), (std::vector<std::pair<std::string, std::string>>{
                                          {"hello", "email"}, {"text", "sms"}, {"push", "push"}}));
  // A definition without send steps sends on nothing.
  Compilation none = compile_definition(
      unit::journey_def("public.customers", R"([{"key": "end", "type": "exit"}])"), env);
  EXPECT_TRUE(channels_sent(none.journey).empty());
}

// The templates a version freezes at publish: those its send steps render,
// each once, sorted; a stray "template" key on another step is not one.
TEST(Parse9TemplatesNamed, OnlyTheSendStepsTemplates) {
  AudienceSchema schema = customers();
  ValidationEnv env;
  env.audience = &schema;
  Json def = unit::journey_def("public.customers", R"([
      {"key": "hello", "type": "send_email", "template": "welcome", "next": "push"},
      {"key": "push", "type": "send", "channel": "push", "template": "nudge", "next": "again"},
      {"key": "again", "type": "send_email", "template": "welcome", "next": "wait"},
      {"key": "wait", "type": "delay", "duration": "1 day", "template": "stray", "next": "end"},
      {"key": "end", "type": "exit"}])");
  Compilation c = compile_definition(def, env);
  ASSERT_TRUE(c.usable()) << c.unusable_message();
  EXPECT_EQ(templates_named(c.journey), (std::vector<std::string>{"nudge", "welcome"}));
}

}  // namespace
}  // namespace PGJ_UNIT_ID
}  // namespace pgj::core
