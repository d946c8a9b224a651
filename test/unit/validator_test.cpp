// Tests for the journey validator and the graph parser.
#include <gtest/gtest.h>

#include <chrono>
#include <map>

#include "core/graph.hpp"
#include "core/validator.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

AudienceSchema customers() {
  AudienceSchema s = pgj::unit::audience_schema("public.customers");
  s.columns = {
      {"id", ValueType::Int, "bigint"},
      {"email", ValueType::Text, "text"},
      {"first_name", ValueType::Text, "text"},
      {"plan", ValueType::Text, "text"},
      {"score", ValueType::Float, "double precision"},
      {"age", ValueType::Int, "integer"},
      {"active", ValueType::Bool, "boolean"},
      {"unsubscribed", ValueType::Bool, "boolean"},
      {"trial_ends_at", ValueType::Timestamp, "timestamp with time zone"},
      {"birthday", ValueType::Date, "date"},
      {"upgraded_at", ValueType::Timestamp, "timestamp with time zone"},
      {"notes", ValueType::Text, "text"},
      {"prefs", ValueType::Json, "jsonb"},
  };
  return s;
}

// A journey using the SPEC example plus one step of every type, every entry
// trigger type, both exit rule types and every setting.
const char* kFullJourney = R"json({
  "name": "welcome-series", "audience": "public.customers", "description": "all step types",
  "settings": {"reentry": "after_exit", "reentry_cooldown": "30 days", "timezone": "UTC",
               "quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "customer"},
               "frequency_cap": {"max": 3, "per": "1 day"}, "holdout_percent": 10,
               "max_attempts": 5, "max_step_visits": 500, "entity_property": "cart_id"},
  "entry": [{"type": "event", "event": "signed_up", "where": {"field": "event.source", "op": "eq", "value": "web"}},
            {"type": "attribute", "when": {"field": "plan", "op": "changed_to", "value": "trial"}},
            {"type": "segment", "schedule": "0 9 * * *", "when": {"field": "active", "op": "eq", "value": true}},
            {"type": "segment", "schedule": "@daily", "query": "select id from customers"},
            {"type": "date", "schedule": "@daily", "field": "birthday", "offset": "-3 days"},
            {"type": "manual"}],
  "exit": [{"type": "condition", "when": {"field": "unsubscribed", "op": "eq", "value": true}, "is_goal": false},
           {"type": "event", "event": "purchased", "is_goal": true, "where": {"field": "event.amount", "op": "gt", "value": 0}}],
  "start": "welcome",
  "steps": [
    {"key": "welcome", "type": "send_email", "template": "welcome", "to_field": "email", "next": "wait"},
    {"key": "wait", "type": "wait_for_event", "event": "email_opened", "timeout": "3 days",
     "where": {"field": "event.message_step", "op": "eq", "value": "welcome"},
     "branches": {"event": "tips", "timeout": "nudge"}},
    {"key": "tips", "type": "send_email", "template": "tips", "next": "check"},
    {"key": "nudge", "type": "send_email", "template": "nudge", "next": "check"},
    {"key": "check", "type": "condition",
     "if": {"any": [{"field": "plan", "op": "eq", "value": "pro"},
                    {"event": "email_opened", "step": "welcome", "within": "7 days"}]},
     "branches": {"yes": "route", "no": "sms"}},
    {"key": "sms", "type": "send", "channel": "sms", "template": "promo_sms", "next": "route"},
    {"key": "route", "type": "branch",
     "cases": [{"name": "vip", "when": {"field": "score", "op": "gt", "value": 90}},
               {"name": "young", "when": {"field": "age", "op": "lt", "value": 30}}],
     "branches": {"vip": "ab", "young": "push", "else": "pause"}},
    {"key": "push", "type": "send", "channel": "push",
     "payload": {"title": "Hi {{first_name | default: 'there'}}", "n": 1}, "next": "ab"},
    {"key": "pause", "type": "delay", "duration": "1 day", "next": "ab"},
    {"key": "ab", "type": "split", "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 3}],
     "branches": {"a": "morning", "b": "trial"}},
    {"key": "morning", "type": "delay", "until": {"time": "09:00", "days": ["mon", "tue"], "timezone": "customer"},
     "next": "upgrade_wait"},
    {"key": "trial", "type": "delay", "until_field": "trial_ends_at", "offset": "-1 day", "next": "upgrade_wait"},
    {"key": "upgrade_wait", "type": "wait_until", "when": {"field": "plan", "op": "eq", "value": "pro"},
     "timeout": "14 days", "branches": {"met": "mark", "timeout": "score_call"}},
    {"key": "mark", "type": "update_field",
     "set": {"upgraded_at": {"now": true}, "plan": "pro", "notes": null, "prefs": {"a": 1}}, "next": "converted"},
    {"key": "score_call", "type": "call", "function": "public.score_customer", "next": "done"},
    {"key": "converted", "type": "goal", "next": "done"},
    {"key": "done", "type": "exit"}
  ]})json";

struct Validate : ::testing::Test {
  AudienceSchema schema = customers();
  ValidationEnv env;
  std::map<std::string, std::string> templates{
      {"welcome", "email"}, {"tips", "email"}, {"nudge", "email"}, {"promo_sms", "sms"}};

  void SetUp() override {
    env.audience = &schema;
    env.template_channel = [this](const std::string& n) -> std::optional<std::string> {
      auto it = templates.find(n);
      if (it == templates.end()) return std::nullopt;
      return it->second;
    };
    env.is_valid_timezone = [](const std::string& z) {
      return z == "UTC" || z == "Europe/Paris" || z == "America/New_York";
    };
    env.check_call_function = [](const std::string& f) -> std::string {
      if (f == "public.score_customer") return "";
      return "function " + f + "(text, jsonb) does not exist";
    };
  }

  static Json full() { return Json::parse(kFullJourney); }

  // Index of the step with this key in full()["steps"].
  static size_t step_index(const Json& def, const std::string& key) {
    for (size_t i = 0; i < def["steps"].size(); ++i)
      if (def["steps"][i]["key"] == key) return i;
    ADD_FAILURE() << "no step " << key;
    return 0;
  }
  static Json& step(Json& def, const std::string& key) {
    return def["steps"][step_index(def, key)];
  }

  std::vector<Issue> run(const Json& def) { return validate_journey(def, env); }
};

// Printable form of issues, for failure messages.
std::string dump(const std::vector<Issue>& issues) {
  std::string out;
  for (const Issue& i : issues)
    out += "[" + i.severity + "] " + i.step_key + ": " + i.message + "\n";
  return out;
}

// Whether an issue with this severity, key and message substring exists.
::testing::AssertionResult Has(const std::vector<Issue>& issues, const std::string& severity,
                               const std::string& key, const std::string& needle) {
  for (const Issue& i : issues)
    if (i.severity == severity && i.step_key == key && i.message.find(needle) != std::string::npos)
      return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "no " << severity << " for \"" << key << "\" containing \"" << needle << "\" in:\n"
         << dump(issues);
}

size_t count(const std::vector<Issue>& issues, const std::string& severity) {
  size_t n = 0;
  for (const Issue& i : issues) n += i.severity == severity;
  return n;
}

}  // namespace

// ---------------------------------------------------------------------------
// The valid journey.

TEST_F(Validate, FullJourneyHasNoIssues) {
  auto issues = run(full());
  EXPECT_TRUE(issues.empty()) << dump(issues);
}

TEST_F(Validate, SpecExampleHasNoIssues) {
  Json def = Json::parse(R"json({"name": "welcome-series", "audience": "public.customers",
   "settings": {"reentry": "never", "timezone": "UTC"},
   "entry": [{"type": "event", "event": "signed_up"}],
   "exit": [{"type": "condition", "when": {"field": "unsubscribed", "op": "eq", "value": true}}],
   "start": "welcome",
   "steps": [
     {"key": "welcome", "type": "send_email", "template": "welcome", "next": "wait"},
     {"key": "wait", "type": "wait_for_event", "event": "email_opened", "timeout": "3 days",
      "branches": {"event": "tips", "timeout": "nudge"}},
     {"key": "tips", "type": "send_email", "template": "tips"},
     {"key": "nudge", "type": "send_email", "template": "nudge"}]})json");
  auto issues = run(def);
  EXPECT_TRUE(issues.empty()) << dump(issues);
}

TEST_F(Validate, UnsetCallbacksAcceptAnything) {
  ValidationEnv loose;
  loose.audience = &schema;
  Json def = full();
  step(def, "welcome")["template"] = "not_a_template";
  step(def, "score_call")["function"] = "anything";
  def["settings"]["timezone"] = "Mars/Olympus";
  auto issues = validate_journey(def, loose);
  EXPECT_TRUE(issues.empty()) << dump(issues);
}

// ---------------------------------------------------------------------------
// Journey level.

TEST_F(Validate, DefinitionNotObject) {
  auto issues = run(Json::array());
  EXPECT_TRUE(Has(issues, "error", "", "journey definition must be a JSON object"));
}

TEST_F(Validate, NameMissingOrEmpty) {
  Json def = full();
  def.erase("name");
  EXPECT_TRUE(Has(run(def), "error", "", "journey has no name"));
  def["name"] = "";
  EXPECT_TRUE(Has(run(def), "error", "", "journey name must be a non-empty string"));
  def["name"] = 5;
  EXPECT_TRUE(Has(run(def), "error", "", "journey name must be a non-empty string"));
}

TEST_F(Validate, AudienceMissing) {
  Json def = full();
  def.erase("audience");
  EXPECT_TRUE(Has(run(def), "error", "", "journey has no audience"));
}

TEST_F(Validate, AudienceNotRegisteredSkipsColumnChecks) {
  env.audience = nullptr;
  Json def = full();
  step(def, "mark")["set"]["no_such_column"] = 1;
  step(def, "check")["if"] = Json::parse(R"({"field":"plann","op":"eq","value":"x"})");
  step(def, "tips")["template"] = "missing_template";  // non-column checks still run
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "",
                  "audience \"public.customers\" is not registered (journey.register_audience)"));
  EXPECT_TRUE(Has(issues, "error", "tips", "unknown template \"missing_template\""));
  EXPECT_EQ(count(issues, "error"), 2u) << dump(issues);
}

TEST_F(Validate, UnknownTopLevelKeyWarns) {
  Json def = full();
  def["stpes"] = Json::array();
  EXPECT_TRUE(Has(run(def), "warning", "", "unknown key \"stpes\" in journey definition"));
}

TEST_F(Validate, StepsNotArrayOrEmpty) {
  Json def = full();
  def["steps"] = Json::object();
  EXPECT_TRUE(Has(run(def), "error", "", "\"steps\" must be an array"));
  def["steps"] = Json::array();
  def.erase("start");
  EXPECT_TRUE(Has(run(def), "error", "", "journey has no steps"));
  def.erase("steps");
  EXPECT_TRUE(Has(run(def), "error", "", "journey has no steps"));
}

TEST_F(Validate, StepNotObjectOrNoKey) {
  Json def = full();
  def["steps"].push_back("oops");
  def["steps"].push_back({{"type", "goal"}});
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "", "step #18 must be a JSON object"));
  EXPECT_TRUE(Has(issues, "error", "", "step #19 has no key"));
}

TEST_F(Validate, InvalidStepKey) {
  Json def = full();
  def["steps"].push_back({{"key", "bad key!"}, {"type", "goal"}});
  def["steps"].push_back({{"key", std::string(64, 'a')}, {"type", "goal"}});
  def["steps"].push_back({{"key", ""}, {"type", "goal"}});
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "bad key!", "invalid step key \"bad key!\""));
  EXPECT_TRUE(Has(issues, "error", std::string(64, 'a'), "invalid step key"));
  EXPECT_TRUE(Has(issues, "error", "", "invalid step key \"\""));
}

TEST_F(Validate, DuplicateStepKey) {
  Json def = full();
  def["steps"].push_back({{"key", "tips"}, {"type", "goal"}});
  EXPECT_TRUE(Has(run(def), "error", "tips", "duplicate step key \"tips\""));
}

TEST_F(Validate, UnknownOrMissingStepType) {
  Json def = full();
  step(def, "converted")["type"] = "sendmail";
  step(def, "pause").erase("type");
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "converted", "unknown step type \"sendmail\""));
  EXPECT_TRUE(Has(issues, "error", "pause", "step \"pause\" has no type"));
}

TEST_F(Validate, StartMissingOrUnknown) {
  Json def = full();
  def.erase("start");
  EXPECT_TRUE(Has(run(def), "error", "", "journey has no start step"));
  def["start"] = "nowhere";
  EXPECT_TRUE(Has(run(def), "error", "", "start step \"nowhere\" does not exist"));
}

// ---------------------------------------------------------------------------
// Connections.

TEST_F(Validate, BranchLeadsToUnknownStep) {
  Json def = full();
  step(def, "check")["branches"]["yes"] = "zz";
  EXPECT_TRUE(Has(run(def), "error", "check",
                  "branch \"yes\" of step \"check\" leads to unknown step \"zz\""));
}

TEST_F(Validate, BranchWithoutTarget) {
  Json def = full();
  step(def, "check")["branches"]["no"] = "";
  step(def, "tips")["next"] = 5;
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "check", "branch \"no\" of step \"check\" has no target"));
  EXPECT_TRUE(Has(issues, "error", "tips", "branch \"next\" of step \"tips\" has no target"));
}

TEST_F(Validate, BranchesMustBeObject) {
  Json def = full();
  step(def, "check")["branches"] = Json::array({"route"});
  EXPECT_TRUE(Has(run(def), "error", "check", "\"branches\" of step \"check\" must be an object"));
}

TEST_F(Validate, ConflictingNextTargets) {
  Json def = full();
  step(def, "tips")["branches"] = {{"next", "nudge"}};
  EXPECT_TRUE(Has(run(def), "error", "tips", "two different \"next\" targets"));
  step(def, "tips")["branches"] = {{"next", "check"}};  // same target: fine
  EXPECT_TRUE(run(def).empty()) << dump(run(def));
}

TEST_F(Validate, SingleOutputOnlyNext) {
  Json def = full();
  step(def, "tips")["branches"] = {{"yes", "check"}};
  EXPECT_TRUE(Has(run(def), "error", "tips",
                  "step \"tips\" (send_email) has no branch \"yes\" (expected next)"));
}

TEST_F(Validate, WaitForEventBranches) {
  Json def = full();
  step(def, "wait")["branches"]["met"] = "tips";
  EXPECT_TRUE(Has(run(def), "error", "wait", "has no branch \"met\" (expected event or timeout)"));
}

TEST_F(Validate, WaitUntilBranches) {
  Json def = full();
  step(def, "upgrade_wait")["branches"]["event"] = "mark";
  EXPECT_TRUE(
      Has(run(def), "error", "upgrade_wait", "has no branch \"event\" (expected met or timeout)"));
}

TEST_F(Validate, ConditionBranches) {
  Json def = full();
  step(def, "check")["branches"]["maybe"] = "route";
  EXPECT_TRUE(Has(run(def), "error", "check", "has no branch \"maybe\" (expected yes or no)"));
}

TEST_F(Validate, BranchStepBranchesAreCaseNamesAndElse) {
  Json def = full();
  step(def, "route")["branches"]["old"] = "ab";
  EXPECT_TRUE(
      Has(run(def), "error", "route", "has no branch \"old\" (expected vip, young or else)"));
}

TEST_F(Validate, SplitBranchesAreVariantNames) {
  Json def = full();
  step(def, "ab")["branches"]["c"] = "trial";
  step(def, "ab")["branches"]["next"] = "trial";
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "ab", "has no branch \"c\" (expected a or b)"));
  EXPECT_TRUE(Has(issues, "error", "ab", "has no branch \"next\""));
}

// A message per wrong branch listed every variant: a split of 4,000 variants
// and as many wrong branches (150 kB) made 100 MB of messages.
TEST_F(Validate, WrongBranchMessageListsAFewNames) {
  Json def = full();
  Json& ab = step(def, "ab");
  for (int i = 0; i < 100; ++i)
    ab["variants"].push_back({{"name", "variant_" + std::to_string(1000 + i)}, {"weight", 1}});
  ab["branches"]["c"] = "trial";
  auto issues = run(def);
  ASSERT_TRUE(Has(issues, "error", "ab", "has no branch \"c\" (expected a, b, variant_1000, "));
  for (const Issue& i : issues)
    if (i.message.find("has no branch \"c\"") != std::string::npos) {
      EXPECT_LT(i.message.size(), 300u) << i.message;
      EXPECT_EQ(i.message.substr(i.message.size() - 4), "...)") << i.message;
    }
}

// Checking the branches of a step against its cases or variants was quadratic
// (100,000 variants took half a minute); with a generous bound against a loaded machine.
TEST_F(Validate, ManyVariantsInLinearTime) {
  Json variants = Json::array(), branches = Json::object();
  for (int i = 0; i < 100000; ++i) {
    variants.push_back({{"name", "v" + std::to_string(i)}, {"weight", 1}});
    branches["v" + std::to_string(i)] = "end";
  }
  Json def = {{"name", "big"},
              {"audience", "public.customers"},
              {"start", "ab"},
              {"steps",
               {{{"key", "ab"}, {"type", "split"}, {"variants", variants}, {"branches", branches}},
                {{"key", "end"}, {"type", "exit"}}}}};
  auto start = std::chrono::steady_clock::now();
  auto issues = run(def);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(issues.empty()) << dump(issues);
  EXPECT_LT(seconds, 10.0);
}

TEST_F(Validate, ExitStepHasNoConnections) {
  Json def = full();
  step(def, "done")["next"] = "welcome";
  EXPECT_TRUE(Has(run(def), "error", "done",
                  "exit step \"done\" cannot have outgoing connections (branch \"next\")"));
}

TEST_F(Validate, MissingBranchesAreFine) {
  Json def = full();
  step(def, "check")["branches"].erase("no");
  step(def, "wait")["branches"].erase("timeout");  // timeout configured, no branch: fine
  auto issues = run(def);
  // "nudge" and "sms" lose their only way in.
  EXPECT_EQ(count(issues, "error"), 0u) << dump(issues);
}

TEST_F(Validate, TimeoutBranchWithoutTimeoutWarns) {
  Json def = full();
  step(def, "wait").erase("timeout");
  step(def, "upgrade_wait").erase("timeout");
  auto issues = run(def);
  EXPECT_TRUE(
      Has(issues, "warning", "wait",
          "branch \"timeout\" of step \"wait\" is never taken: the step has no \"timeout\""));
  EXPECT_TRUE(Has(issues, "warning", "upgrade_wait", "is never taken"));
  EXPECT_EQ(count(issues, "error"), 0u) << dump(issues);
}

TEST_F(Validate, UnreachableStepWarns) {
  Json def = full();
  def["steps"].push_back({{"key", "orphan"}, {"type", "goal"}, {"next", "done"}});
  auto issues = run(def);
  EXPECT_TRUE(
      Has(issues, "warning", "orphan", "step \"orphan\" is unreachable from the start step"));
  EXPECT_EQ(issues.size(), 1u) << dump(issues);
}

TEST_F(Validate, CycleWithoutWaitIsError) {
  Json def = full();
  step(def, "converted")["next"] = "check";  // check -> route -> ab? no: converted -> check -> ...
  def["steps"].push_back({{"key", "a1"}, {"type", "goal"}, {"next", "a2"}});
  def["steps"].push_back(
      {{"key", "a2"}, {"type", "send_email"}, {"template", "tips"}, {"next", "a1"}});
  step(def, "done")["type"] = "goal";
  step(def, "done")["next"] = "a1";
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "a1", "cycle a1 -> a2 -> a1 has no delay or wait"));
}

TEST_F(Validate, SelfLoopWithoutWaitIsError) {
  Json def = full();
  step(def, "converted")["next"] = "converted";
  EXPECT_TRUE(
      Has(run(def), "error", "converted", "cycle converted -> converted has no delay or wait"));
}

TEST_F(Validate, CycleThroughWaitIsFine) {
  Json def = full();
  // mark -> converted -> upgrade_wait (a wait) -> mark: allowed.
  step(def, "converted")["next"] = "upgrade_wait";
  auto issues = run(def);
  EXPECT_EQ(count(issues, "error"), 0u) << dump(issues);
  // A delay also breaks a loop.
  def = full();
  step(def, "converted")["next"] = "pause";
  issues = run(def);
  EXPECT_EQ(count(issues, "error"), 0u) << dump(issues);
}

// ---------------------------------------------------------------------------
// Step config.

TEST_F(Validate, UnknownConfigKeyWarns) {
  Json def = full();
  step(def, "tips")["templat"] = "x";
  step(def, "tips")["description"] = "documented, allowed";
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "warning", "tips", "unknown config key \"templat\""));
  EXPECT_EQ(issues.size(), 1u) << dump(issues);
}

TEST_F(Validate, SendEmailTemplate) {
  Json def = full();
  step(def, "tips").erase("template");
  step(def, "nudge")["template"] = "nope";
  step(def, "welcome")["template"] = "promo_sms";
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "tips", "step \"tips\" (send_email) needs \"template\""));
  EXPECT_TRUE(Has(issues, "error", "nudge", "unknown template \"nope\""));
  EXPECT_TRUE(Has(issues, "error", "welcome",
                  "template \"promo_sms\" is for channel \"sms\", not \"email\""));
}

TEST_F(Validate, SendEmailToField) {
  Json def = full();
  step(def, "tips")["to_field"] = "mail";
  step(def, "nudge")["to_field"] = "age";
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "tips", "column \"mail\" (\"to_field\") does not exist"));
  EXPECT_TRUE(Has(issues, "error", "nudge", "must be a text column (column type integer)"));
}

TEST_F(Validate, SendChannelRequired) {
  Json def = full();
  step(def, "sms").erase("channel");
  step(def, "push")["channel"] = "";
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "sms", "needs \"channel\""));
  EXPECT_TRUE(Has(issues, "error", "push",
                  "\"channel\" of step \"push\" (send) must be a non-empty string"));
}

TEST_F(Validate, SendTemplateXorPayload) {
  Json def = full();
  step(def, "sms")["payload"] = {{"text", "hi"}};
  step(def, "push").erase("payload");
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "sms", "needs either \"template\" or \"payload\", not both"));
  EXPECT_TRUE(Has(issues, "error", "push", "needs \"template\" or \"payload\""));
}

TEST_F(Validate, SendTemplateChannelMustMatch) {
  Json def = full();
  step(def, "sms")["template"] = "welcome";
  EXPECT_TRUE(
      Has(run(def), "error", "sms", "template \"welcome\" is for channel \"email\", not \"sms\""));
  step(def, "sms")["template"] = "nope";
  EXPECT_TRUE(Has(run(def), "error", "sms", "unknown template \"nope\""));
}

TEST_F(Validate, SendPayloadMustBeObjectWithValidTags) {
  Json def = full();
  step(def, "push")["payload"] = "text";
  EXPECT_TRUE(
      Has(run(def), "error", "push", "\"payload\" of step \"push\" (send) must be a JSON object"));
  step(def, "push")["payload"] = Json::parse(R"({"body": {"title": "Hi {{first_name"}})");
  EXPECT_TRUE(Has(run(def), "error", "push", "payload: unclosed \"{{\""));
}

TEST_F(Validate, DelayNeedsExactlyOneMode) {
  Json def = full();
  step(def, "pause").erase("duration");
  step(def, "morning")["duration"] = "1 day";
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "pause",
                  "needs exactly one of \"duration\", \"until\" or \"until_field\""));
  EXPECT_TRUE(Has(issues, "error", "morning", "needs exactly one of"));
}

TEST_F(Validate, DelayDurationPositive) {
  Json def = full();
  step(def, "pause")["duration"] = "0 days";
  EXPECT_TRUE(Has(run(def), "error", "pause", "\"duration\" must be a positive duration"));
  step(def, "pause")["duration"] = "3 fortnights";
  EXPECT_TRUE(Has(run(def), "error", "pause", "unknown unit \"fortnights\""));
  step(def, "pause")["duration"] = 86400;
  EXPECT_TRUE(Has(run(def), "error", "pause", "must be a duration string"));
}

TEST_F(Validate, DelayUntil) {
  Json def = full();
  Json& u = step(def, "morning")["until"];
  u.erase("time");
  EXPECT_TRUE(Has(run(def), "error", "morning", "\"until\" needs \"time\""));
  u["time"] = "25:00";
  EXPECT_TRUE(Has(run(def), "error", "morning", "invalid time of day \"25:00\""));
  u["time"] = "09:00";
  u["days"] = Json::array();
  EXPECT_TRUE(Has(run(def), "error", "morning", "days must be a non-empty array"));
  u["days"] = {"mon", "funday"};
  EXPECT_TRUE(Has(run(def), "error", "morning", "invalid weekday \"funday\""));
  u["days"] = {"mon", "monday"};
  EXPECT_TRUE(Has(run(def), "error", "morning", "duplicate weekday \"monday\""));
  u["days"] = {"mon"};
  u["timezone"] = "Mars/Olympus";
  EXPECT_TRUE(Has(run(def), "error", "morning", "unknown time zone \"Mars/Olympus\""));
  u["timezone"] = "Europe/Paris";
  u["when"] = 1;
  EXPECT_TRUE(Has(run(def), "warning", "morning", "unknown \"until\" key \"when\""));
  step(def, "morning")["until"] = "09:00";
  EXPECT_TRUE(Has(run(def), "error", "morning", "\"until\" must be an object"));
}

TEST_F(Validate, DelayUntilFieldAndOffset) {
  Json def = full();
  step(def, "trial")["until_field"] = "plan";
  EXPECT_TRUE(
      Has(run(def), "error", "trial", "must be a timestamp or date column (column type text)"));
  step(def, "trial")["until_field"] = "trial_end";
  EXPECT_TRUE(
      Has(run(def), "error", "trial", "column \"trial_end\" (\"until_field\") does not exist"));
  step(def, "trial")["until_field"] = "birthday";
  step(def, "trial")["offset"] = "1 eon";
  EXPECT_TRUE(Has(run(def), "error", "trial", "\"offset\": invalid duration"));
  def = full();
  step(def, "pause")["offset"] = "1 day";
  EXPECT_TRUE(Has(run(def), "error", "pause",
                  "\"offset\" of step \"pause\" (delay) is only used with \"until_field\""));
}

TEST_F(Validate, WaitForEventConfig) {
  Json def = full();
  step(def, "wait").erase("event");
  step(def, "wait")["timeout"] = "-1 day";
  step(def, "wait")["where"] = Json::parse(R"({"field":"plann","op":"eq","value":"x"})");
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "wait", "needs \"event\""));
  EXPECT_TRUE(Has(issues, "error", "wait", "\"timeout\" must be a positive duration"));
  EXPECT_TRUE(Has(issues, "error", "wait",
                  "unknown column \"plann\" in the \"where\" of step \"wait\" (audience "
                  "public.customers has no such column)"));
}

TEST_F(Validate, WaitUntilConfig) {
  Json def = full();
  step(def, "upgrade_wait")["when"] =
      Json::parse(R"({"field":"event.cart_id","op":"eq","value":1})");
  EXPECT_TRUE(
      Has(run(def), "error", "upgrade_wait",
          "field \"event.cart_id\" is not allowed in the \"when\" of step \"upgrade_wait\""));
  step(def, "upgrade_wait")["when"] = Json::parse(R"({"field":"context.x","op":"exists"})");
  EXPECT_TRUE(run(def).empty());
  step(def, "upgrade_wait").erase("when");
  EXPECT_TRUE(Has(run(def), "error", "upgrade_wait", "needs \"when\""));
}

TEST_F(Validate, ConditionStep) {
  Json def = full();
  step(def, "check")["if"] = Json::parse(R"({"field":"age","op":"eq","value":"x"})");
  EXPECT_TRUE(Has(run(def), "error", "check",
                  "value for \"age\" must be an integer (column type integer)"));
  step(def, "check")["if"] = Json::parse(R"({"field":"plan","op":"equals","value":"x"})");
  EXPECT_TRUE(Has(run(def), "error", "check", "unknown op \"equals\" for field \"plan\""));
  step(def, "check")["if"] = Json::parse(R"({"field":"plan","op":"changed"})");
  EXPECT_TRUE(Has(run(def), "error", "check", "only allowed in attribute entry triggers"));
  step(def, "check").erase("if");
  EXPECT_TRUE(Has(run(def), "error", "check", "needs \"if\""));
}

TEST_F(Validate, BranchCases) {
  Json def = full();
  Json& cases = step(def, "route")["cases"];
  cases.push_back({{"name", "vip"}, {"when", {{"field", "age"}, {"op", "gt"}, {"value", 1}}}});
  cases.push_back({{"name", "else"}, {"when", {{"field", "age"}, {"op", "gt"}, {"value", 1}}}});
  cases.push_back({{"when", {{"field", "age"}, {"op", "gt"}, {"value", 1}}}});
  cases.push_back({{"name", "nowhen"}});
  cases.push_back({{"name", "badwhen"}, {"when", {{"field", "agee"}, {"op", "gt"}, {"value", 1}}}});
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "route", "duplicate case name \"vip\""));
  EXPECT_TRUE(Has(issues, "error", "route", "case name \"else\" of step \"route\" is reserved"));
  EXPECT_TRUE(
      Has(issues, "error", "route", "case #5 of step \"route\" needs a non-empty \"name\""));
  EXPECT_TRUE(Has(issues, "error", "route", "case #6 of step \"route\" needs \"when\""));
  EXPECT_TRUE(Has(issues, "error", "route",
                  "unknown column \"agee\" in case \"badwhen\" of step \"route\""));
  step(def, "route")["cases"] = Json::array();
  EXPECT_TRUE(Has(run(def), "error", "route", "needs \"cases\""));
}

TEST_F(Validate, SplitVariants) {
  Json def = full();
  Json& vs = step(def, "ab")["variants"];
  vs.push_back({{"name", "a"}, {"weight", 1}});
  vs.push_back({{"name", "c"}});
  vs.push_back({{"name", "d"}, {"weight", 0}});
  vs.push_back({{"name", "e"}, {"weight", "2"}});
  vs.push_back({{"weight", 2}});
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "ab", "duplicate variant name \"a\""));
  EXPECT_TRUE(Has(issues, "error", "ab", "variant \"c\" of step \"ab\" needs a \"weight\""));
  EXPECT_TRUE(Has(issues, "error", "ab",
                  "weight of variant \"d\" of step \"ab\" must be a positive number, got 0"));
  EXPECT_TRUE(Has(issues, "error", "ab", "weight of variant \"e\""));
  EXPECT_TRUE(Has(issues, "error", "ab", "variant #7 of step \"ab\" needs a non-empty \"name\""));
  step(def, "ab").erase("variants");
  EXPECT_TRUE(Has(run(def), "error", "ab", "needs \"variants\""));
}

TEST_F(Validate, UpdateFieldSet) {
  Json def = full();
  Json& set = step(def, "mark")["set"];
  set["nope"] = 1;
  set["id"] = 5;
  set["age"] = "old";
  set["active"] = {{"now", true}};
  set["birthday"] = "2024-02-30";
  set["trial_ends_at"] = "2024-02-01T00:00:00Z";
  set["score"] = 1;
  auto issues = run(def);
  EXPECT_TRUE(
      Has(issues, "error", "mark", "column \"nope\" of audience public.customers does not exist"));
  EXPECT_TRUE(Has(issues, "error", "mark", "cannot set the key column \"id\""));
  EXPECT_TRUE(Has(issues, "error", "mark",
                  "value for column \"age\" must be an integer or null (column type integer)"));
  EXPECT_TRUE(Has(issues, "error", "mark",
                  "{\"now\": true} is only valid for timestamp or date columns (column \"active\" "
                  "is boolean)"));
  EXPECT_TRUE(Has(issues, "error", "mark", "invalid timestamp \"2024-02-30\""));
  EXPECT_EQ(count(issues, "error"), 5u) << dump(issues);
  set = Json::object();
  EXPECT_TRUE(Has(run(def), "error", "mark", "needs \"set\": a non-empty object"));
}

TEST_F(Validate, UpdateFieldNowOnlyForTimestamps) {
  Json def = full();
  step(def, "mark")["set"] = {{"plan", {{"now", true}}}};
  EXPECT_TRUE(
      Has(run(def), "error", "mark", "{\"now\": true} is only valid for timestamp or date"));
  step(def, "mark")["set"] = {{"plan", 5}};
  EXPECT_TRUE(Has(run(def), "error", "mark", "value for column \"plan\" must be a string or null"));
  step(def, "mark")["set"] = {{"birthday", {{"now", true}}}};
  EXPECT_TRUE(run(def).empty());
}

TEST_F(Validate, CallFunction) {
  Json def = full();
  step(def, "score_call")["function"] = "public.nope";
  EXPECT_TRUE(
      Has(run(def), "error", "score_call", "function public.nope(text, jsonb) does not exist"));
  step(def, "score_call").erase("function");
  EXPECT_TRUE(Has(run(def), "error", "score_call", "needs \"function\""));
}

TEST_F(Validate, GoalAndExitTakeNoConfig) {
  Json def = full();
  step(def, "converted")["template"] = "x";
  step(def, "done")["when"] = 1;
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "warning", "converted", "unknown config key \"template\""));
  EXPECT_TRUE(Has(issues, "warning", "done", "unknown config key \"when\""));
}

// ---------------------------------------------------------------------------
// Entry triggers.

TEST_F(Validate, NoEntryTriggersIsFine) {
  Json def = full();
  def.erase("entry");
  EXPECT_TRUE(run(def).empty());
  def["entry"] = Json::array();
  EXPECT_TRUE(run(def).empty());
}

TEST_F(Validate, EntryNotArrayOrBadTrigger) {
  Json def = full();
  def["entry"] = Json::object();
  EXPECT_TRUE(Has(run(def), "error", "", "\"entry\" must be an array"));
  def["entry"] = {"x", {{"type", "webhook"}}, Json::object()};
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "entry[0]", "entry trigger must be a JSON object"));
  EXPECT_TRUE(Has(issues, "error", "entry[1]", "unknown entry trigger type \"webhook\""));
  EXPECT_TRUE(Has(issues, "error", "entry[2]", "entry trigger needs a \"type\""));
}

TEST_F(Validate, EventTrigger) {
  Json def = full();
  def["entry"][0].erase("event");
  def["entry"][0]["where"] = Json::parse(R"({"field":"plan","op":"eq","value":"pro"})");
  def["entry"][0]["bogus"] = 1;
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "entry[0]", "event entry trigger needs \"event\""));
  EXPECT_TRUE(Has(issues, "error", "entry[0]",
                  "field \"plan\" is not allowed in the \"where\" of entry[0]"));
  EXPECT_TRUE(Has(issues, "warning", "entry[0]", "unknown entry trigger key \"bogus\""));
}

TEST_F(Validate, AttributeTrigger) {
  Json def = full();
  def["entry"][1]["when"] = Json::parse(R"({"field":"plann","op":"changed"})");
  EXPECT_TRUE(Has(run(def), "error", "entry[1]", "unknown column \"plann\""));
  def["entry"][1].erase("when");
  EXPECT_TRUE(Has(run(def), "error", "entry[1]", "attribute entry trigger needs \"when\""));
}

TEST_F(Validate, SegmentTrigger) {
  Json def = full();
  def["entry"][2]["schedule"] = "61 * * * *";
  def["entry"][3].erase("schedule");
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "entry[2]", "invalid schedule \"61 * * * *\""));
  EXPECT_TRUE(Has(issues, "error", "entry[3]", "needs \"schedule\""));
  def = full();
  def["entry"][2]["query"] = "select 1";
  def["entry"][3].erase("query");
  issues = run(def);
  EXPECT_TRUE(
      Has(issues, "error", "entry[2]", "needs exactly one of \"when\" (a condition) or \"query\""));
  EXPECT_TRUE(Has(issues, "error", "entry[3]", "needs exactly one of"));
  def = full();
  def["entry"][3]["query"] = "";
  EXPECT_TRUE(Has(run(def), "error", "entry[3]",
                  "\"query\" of segment entry trigger must be a non-empty string"));
}

TEST_F(Validate, DateTrigger) {
  Json def = full();
  def["entry"][4]["field"] = "plan";
  def["entry"][4]["offset"] = "soon";
  auto issues = run(def);
  EXPECT_TRUE(
      Has(issues, "error", "entry[4]", "must be a timestamp or date column (column type text)"));
  EXPECT_TRUE(Has(issues, "error", "entry[4]", "\"offset\": invalid duration \"soon\""));
  def["entry"][4].erase("field");
  def["entry"][4]["schedule"] = "@sometimes";
  issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "entry[4]", "date entry trigger needs \"field\""));
  EXPECT_TRUE(Has(issues, "error", "entry[4]", "invalid schedule \"@sometimes\""));
}

TEST_F(Validate, ManualTriggerTakesNothing) {
  Json def = full();
  def["entry"][5]["event"] = "x";
  EXPECT_TRUE(Has(run(def), "warning", "entry[5]", "unknown entry trigger key \"event\""));
}

// ---------------------------------------------------------------------------
// Exit rules.

TEST_F(Validate, ExitRules) {
  Json def = full();
  def["exit"].push_back({{"type", "timer"}});
  def["exit"].push_back({{"type", "event"}});
  def["exit"].push_back({{"type", "condition"}, {"is_goal", "yes"}});
  def["exit"].push_back({{"type", "condition"}, {"when", {{"field", "plan"}, {"op", "changed"}}}});
  def["exit"].push_back(
      {{"type", "event"}, {"event", "x"}, {"where", {{"field", "context.a"}, {"op", "exists"}}}});
  auto issues = run(def);
  EXPECT_TRUE(Has(issues, "error", "exit[2]", "unknown exit rule type \"timer\""));
  EXPECT_TRUE(Has(issues, "error", "exit[3]", "event exit rule needs \"event\""));
  EXPECT_TRUE(Has(issues, "error", "exit[4]", "\"is_goal\" must be true or false"));
  EXPECT_TRUE(Has(issues, "error", "exit[4]", "condition exit rule needs \"when\""));
  EXPECT_TRUE(Has(issues, "error", "exit[5]", "only allowed in attribute entry triggers"));
  EXPECT_TRUE(Has(issues, "error", "exit[6]", "field \"context.a\" is not allowed"));
  def["exit"] = "x";
  EXPECT_TRUE(Has(run(def), "error", "", "\"exit\" must be an array"));
}

// ---------------------------------------------------------------------------
// Settings.

TEST_F(Validate, SettingsEachKey) {
  Json s = {{"reentry", "sometimes"},     {"reentry_cooldown", "0 days"},
            {"timezone", "Mars/Olympus"}, {"holdout_percent", 100},
            {"max_attempts", 0},          {"max_step_visits", 100001},
            {"entity_property", ""},      {"colour", "blue"}};
  auto issues = validate_settings(s, env);
  EXPECT_TRUE(Has(issues, "error", "settings",
                  "invalid reentry \"sometimes\" (expected never, after_exit or always)"));
  EXPECT_TRUE(Has(issues, "error", "settings", "\"reentry_cooldown\" must be a positive duration"));
  EXPECT_TRUE(Has(issues, "error", "settings", "unknown time zone \"Mars/Olympus\""));
  EXPECT_TRUE(
      Has(issues, "error", "settings", "holdout_percent must be a number from 0 to less than 100"));
  EXPECT_TRUE(Has(issues, "error", "settings", "max_attempts must be an integer from 1 to 100"));
  EXPECT_TRUE(
      Has(issues, "error", "settings", "max_step_visits must be an integer from 1 to 100000"));
  EXPECT_TRUE(Has(issues, "error", "settings", "entity_property must be a non-empty string"));
  EXPECT_TRUE(Has(issues, "warning", "settings", "unknown setting \"colour\""));
  EXPECT_EQ(issues.size(), 8u) << dump(issues);
}

TEST_F(Validate, SettingsBoundaries) {
  EXPECT_TRUE(validate_settings({{"holdout_percent", 0},
                                 {"max_attempts", 100},
                                 {"max_step_visits", 1},
                                 {"reentry", "always"}},
                                env)
                  .empty());
  EXPECT_TRUE(validate_settings({{"holdout_percent", 99.5}}, env).empty());
  EXPECT_FALSE(validate_settings({{"holdout_percent", -1}}, env).empty());
  EXPECT_FALSE(validate_settings({{"max_attempts", 1.5}}, env).empty());
  EXPECT_TRUE(validate_settings(Json(), env).empty());
  EXPECT_TRUE(Has(validate_settings(Json::array(), env), "error", "settings",
                  "settings must be a JSON object"));
}

// Found by fuzzing: a long value was cut inside a multibyte character, which
// made the message invalid UTF-8 (PostgreSQL returns it as text).
TEST_F(Validate, LongValueCutAtCharacterBoundary) {
  const std::string a55(55, 'a');
  auto issues = validate_settings({{"reentry", a55 + "\xc3\xa9\xc3\xa9\xc3\xa9"}}, env);
  ASSERT_EQ(issues.size(), 1u) << dump(issues);
  EXPECT_EQ(issues[0].message,
            "invalid reentry \"" + a55 + "... (expected never, after_exit or always)");
  issues = validate_settings({{"reentry", a55 + "b\xc3\xa9\xc3\xa9\xc3\xa9"}}, env);
  ASSERT_EQ(issues.size(), 1u) << dump(issues);
  EXPECT_EQ(issues[0].message,
            "invalid reentry \"" + a55 + "b... (expected never, after_exit or always)");
}

TEST_F(Validate, SettingsQuietHours) {
  auto issues = validate_settings(
      {{"quiet_hours", {{"start", "21:00"}, {"end", "21:00"}, {"timezone", "Nowhere"}}}}, env);
  EXPECT_TRUE(Has(issues, "error", "settings", "quiet_hours start and end must differ"));
  EXPECT_TRUE(Has(issues, "error", "settings", "unknown time zone \"Nowhere\""));
  issues = validate_settings({{"quiet_hours", {{"start", "9pm"}}}}, env);
  EXPECT_TRUE(
      Has(issues, "error", "settings", "quiet_hours \"start\": invalid time of day \"9pm\""));
  EXPECT_TRUE(Has(issues, "error", "settings", "quiet_hours needs \"end\""));
  EXPECT_TRUE(Has(validate_settings({{"quiet_hours", "night"}}, env), "error", "settings",
                  "quiet_hours must be an object"));
}

TEST_F(Validate, SettingsFrequencyCap) {
  auto issues = validate_settings({{"frequency_cap", {{"max", 0}}}}, env);
  EXPECT_TRUE(Has(issues, "error", "settings", "frequency_cap \"max\" must be a positive integer"));
  EXPECT_TRUE(Has(issues, "error", "settings", "frequency_cap needs \"per\""));
  issues = validate_settings({{"frequency_cap", {{"max", 2}, {"per", "-1 day"}}}}, env);
  EXPECT_TRUE(
      Has(issues, "error", "settings", "\"frequency_cap.per\" must be a positive duration"));
}

// Found by fuzzing: 2^31 passed validation and compiled to a cap of INT_MIN.
TEST_F(Validate, SettingsFrequencyCapFitsAnInt) {
  EXPECT_TRUE(
      validate_settings({{"frequency_cap", {{"max", 2147483647}, {"per", "1 day"}}}}, env).empty());
  for (Json max : {Json(2147483648ULL), Json(int64_t{2147483648}), Json(9223372036854775808ULL)})
    EXPECT_TRUE(Has(validate_settings({{"frequency_cap", {{"max", max}, {"per", "1 day"}}}}, env),
                    "error", "settings", "frequency_cap \"max\" must be a positive integer"))
        << max;
}

TEST_F(Validate, SettingsInsideJourney) {
  Json def = full();
  def["settings"]["reentry"] = "twice";
  EXPECT_TRUE(Has(run(def), "error", "settings", "invalid reentry \"twice\""));
}

TEST_F(Validate, ReportsEveryProblem) {
  Json def = full();
  def.erase("name");
  step(def, "tips")["template"] = "nope";
  step(def, "pause")["duration"] = "x";
  def["entry"][0].erase("event");
  def["settings"]["max_attempts"] = 0;
  auto issues = run(def);
  EXPECT_EQ(count(issues, "error"), 5u) << dump(issues);
}

// ---------------------------------------------------------------------------
// Graph.

TEST(Graph, ParseFullJourney) {
  JourneyGraph g = parse_graph(Json::parse(kFullJourney), nullptr);
  EXPECT_EQ(g.name, "welcome-series");
  EXPECT_EQ(g.audience, "public.customers");
  EXPECT_EQ(g.start, "welcome");
  ASSERT_EQ(g.steps.size(), 17u);
  EXPECT_EQ(g.entry.size(), 6u);
  EXPECT_EQ(g.exit.size(), 2u);
  EXPECT_EQ(g.settings["timezone"], "UTC");
  const GraphStep* wait = g.find("wait");
  ASSERT_NE(wait, nullptr);
  EXPECT_EQ(wait->type, StepType::WaitForEvent);
  EXPECT_EQ(wait->index, 1);
  EXPECT_EQ(wait->config["event"], "email_opened");
  EXPECT_FALSE(wait->config.contains("branches"));
  EXPECT_FALSE(wait->config.contains("key"));
  ASSERT_NE(wait->target("timeout"), nullptr);
  EXPECT_EQ(*wait->target("timeout"), "nudge");
  EXPECT_EQ(wait->target("met"), nullptr);
  const GraphStep* welcome = g.find("welcome");
  ASSERT_EQ(welcome->branches.size(), 1u);
  EXPECT_EQ(welcome->branches[0].name, "next");
  EXPECT_EQ(welcome->branches[0].target, "wait");
  EXPECT_EQ(g.find("done")->branches.size(), 0u);
  EXPECT_EQ(g.find("nope"), nullptr);
}

TEST(Graph, StepTypesAndBranches) {
  for (const char* t : {"send_email", "send", "delay", "wait_for_event", "wait_until", "condition",
                        "branch", "split", "update_field", "call", "goal", "exit"}) {
    auto st = parse_step_type(t);
    ASSERT_TRUE(st.has_value()) << t;
    EXPECT_STREQ(step_type_name(*st), t);
  }
  EXPECT_FALSE(parse_step_type("sendmail").has_value());
  EXPECT_TRUE(is_wait_type(StepType::Delay));
  EXPECT_TRUE(is_wait_type(StepType::WaitUntil));
  EXPECT_TRUE(is_wait_type(StepType::WaitForEvent));
  EXPECT_FALSE(is_wait_type(StepType::Condition));
  EXPECT_EQ(allowed_branches(StepType::Send, Json::object()), (std::vector<std::string>{"next"}));
  EXPECT_EQ(allowed_branches(StepType::Condition, Json::object()),
            (std::vector<std::string>{"yes", "no"}));
  EXPECT_EQ(allowed_branches(StepType::Branch, Json::parse(R"({"cases":[{"name":"x"}]})")),
            (std::vector<std::string>{"x", "else"}));
  EXPECT_EQ(
      allowed_branches(StepType::Split, Json::parse(R"({"variants":[{"name":"a"},{"name":"b"}]})")),
      (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(allowed_branches(StepType::Exit, Json::object()).empty());
}

}  // namespace PGJ_UNIT_ID
