// Tests for the engine's part of journey.simulate: in a simulation a call step
// calls nothing and takes its declared simulate_result; the validator checks
// that field.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/engine.hpp"
#include "core/error.hpp"
#include "core/validator.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

AudienceSchema audience() {
  AudienceSchema s = pgj::unit::audience_schema("public.people");
  s.columns = {{"id", ValueType::Text, "text"}, {"plan", ValueType::Text, "text"}};
  return s;
}

// A runtime that records calls; simulating or not.
struct CallRecorder : Runtime {
  bool simulation = false;
  std::vector<std::string> calls;
  int64_t add_duration(int64_t ts, const Duration& d, const std::string&) override {
    return ts + d.days * kMicrosPerDay + d.micros;
  }
  int64_t next_local_time(int64_t after, int, uint8_t, const std::string&) override {
    return after + kMicrosPerDay;
  }
  Json call_function(const std::string& function, const std::string&, const Json&) override {
    calls.push_back(function);
    return Json::parse(R"({"score": 99})");
  }
  bool happened(const Enrollment&, const std::string&, const std::string&, std::optional<Duration>,
                int64_t) override {
    return false;
  }
  const TemplateDef* find_template(const std::string&) override { return nullptr; }
  bool simulating() const override { return simulation; }
};

// call -> condition on context.score >= 50 -> yes / no.
Json journey(const char* call_config) {
  Json d = Json::parse(R"({"name": "j", "audience": "public.people", "start": "c", "steps": [
      {"key": "is_high", "type": "condition",
       "if": {"field": "context.score", "op": "gte", "value": 50},
       "branches": {"yes": "high", "no": "low"}},
      {"key": "high", "type": "exit"}, {"key": "low", "type": "exit"}]})");
  Json c = Json::parse(call_config);
  c["key"] = "c";
  c["type"] = "call";
  c["function"] = "public.score";
  c["next"] = "is_high";
  d["steps"].push_back(c);
  return d;
}

// The path an enrollment takes through the journey, "key:branch" per visit.
std::vector<std::string> run_path(const Json& definition, CallRecorder& rt, Json* context) {
  AudienceSchema schema = audience();
  CompiledJourney j = compile_journey(definition, schema, 1, 1);
  Enrollment e;
  e.id = 1;
  e.customer_id = "p1";
  e.step = j.start;
  std::vector<Value> row = {std::string("p1"), std::string("free")};
  RunResult res = run_enrollment(j, schema, e, row, 0, rt);
  std::vector<std::string> path;
  for (const Visit& v : res.visits_log) path.push_back(v.step_key + ":" + v.branch);
  if (context) *context = res.context;
  return path;
}

using Path = std::vector<std::string>;

TEST(Simulate, CallStepCallsItsFunctionOutsideASimulation) {
  CallRecorder rt;
  Json context;
  EXPECT_EQ(run_path(journey(R"({"simulate_result": {"score": 10}})"), rt, &context),
            (Path{"c:next", "is_high:yes", "high:"}));
  EXPECT_EQ(rt.calls, std::vector<std::string>{"public.score"});
  EXPECT_EQ(context, Json::parse(R"({"score": 99})"));
}

TEST(Simulate, CallStepTakesItsDeclaredResultInASimulation) {
  CallRecorder rt;
  rt.simulation = true;
  Json context;
  EXPECT_EQ(run_path(journey(R"({"simulate_result": {"score": 10}})"), rt, &context),
            (Path{"c:next", "is_high:no", "low:"}));
  EXPECT_TRUE(rt.calls.empty());
  EXPECT_EQ(context, Json::parse(R"({"score": 10})"));
}

TEST(Simulate, CallStepWithoutDeclaredResultLeavesTheContextInASimulation) {
  CallRecorder rt;
  rt.simulation = true;
  Json context;
  EXPECT_EQ(run_path(journey("{}"), rt, &context), (Path{"c:next", "is_high:no", "low:"}));
  EXPECT_TRUE(rt.calls.empty());
  EXPECT_EQ(context, Json::object());
}

TEST(Simulate, ValidatorChecksTheDeclaredResult) {
  AudienceSchema schema = audience();
  ValidationEnv env;
  env.audience = &schema;
  auto errors = [&](const char* call_config) {
    std::vector<std::string> out;
    for (const Issue& i : validate_journey(journey(call_config), env))
      if (i.severity == "error" || i.message.find("simulate_result") != std::string::npos)
        out.push_back(i.step_key + ": " + i.message);
    return out;
  };
  EXPECT_EQ(errors(R"({"simulate_result": {"score": 10}})"), std::vector<std::string>{});
  EXPECT_EQ(errors(R"({"simulate_result": null})"), std::vector<std::string>{});
  EXPECT_EQ(errors(R"({"simulate_result": 10})"),
            std::vector<std::string>{
                "c: step \"c\" (call) \"simulate_result\" must be a JSON object (what "
                "journey.simulate merges into the context instead of calling the function)"});
}

}  // namespace

}  // namespace PGJ_UNIT_ID
