// Tests for the condition compiler (type checks, messages) and evaluator.
#include <gtest/gtest.h>

#include "core/condition.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

// The audience used by these tests.
AudienceSchema customers() {
  AudienceSchema s = pgj::unit::audience_schema("public.customers");
  s.columns = {
      {"id", ValueType::Int, "bigint"},
      {"plan", ValueType::Text, "text"},
      {"age", ValueType::Int, "integer"},
      {"score", ValueType::Float, "double precision"},
      {"active", ValueType::Bool, "boolean"},
      {"signed_up_at", ValueType::Timestamp, "timestamp with time zone"},
      {"birthday", ValueType::Date, "date"},
      {"prefs", ValueType::Json, "jsonb"},
      {"ip", ValueType::Other, "inet"},
      {"email", ValueType::Text, "text"},
  };
  return s;
}

enum Col { kId, kPlan, kAge, kScore, kActive, kSignedUp, kBirthday, kPrefs, kIp, kEmail, kNCols };

constexpr int64_t kSec = 1000000;
constexpr int64_t kNow = 1706691600LL * kSec;  // 2024-01-31T09:00:00Z

struct Fixture : ::testing::Test {
  AudienceSchema schema = customers();
  std::vector<Value> row = std::vector<Value>(kNCols);
  std::vector<Value> old_row = std::vector<Value>(kNCols);
  Json event = Json::object();
  Json context = Json::object();

  // Compiles JSON text that must compile without errors.
  CompiledCondition compile(const std::string& text, ConditionScope scope = full()) {
    CompileResult r = compile_condition(Json::parse(text), &schema, scope);
    EXPECT_TRUE(r.ok()) << text << ": " << (r.errors.empty() ? "" : r.errors[0]);
    return r.condition;
  }
  // Compiles JSON text that must fail; returns the errors.
  std::vector<std::string> errors(const std::string& text, ConditionScope scope = full()) {
    CompileResult r = compile_condition(Json::parse(text), &schema, scope);
    EXPECT_FALSE(r.ok()) << text;
    return r.errors;
  }
  // The first error of a failing condition.
  std::string error(const std::string& text, ConditionScope scope = full()) {
    auto e = errors(text, scope);
    return e.empty() ? "" : e[0];
  }
  // Evaluates against the fixture's row (insert unless with_old).
  bool eval(const std::string& text, bool with_old = false, BehaviourLookup* b = nullptr) {
    CompiledCondition c = compile(text);
    EvalInput in;
    in.row = &row;
    in.old_row = with_old ? &old_row : nullptr;
    in.event = &event;
    in.context = &context;
    in.now_micros = kNow;
    in.behaviour = b;
    return evaluate(c, in);
  }
  static ConditionScope full() {
    ConditionScope s;
    s.event = s.context = s.trigger_ops = s.behaviour = true;
    return s;
  }
};

bool has(const std::vector<std::string>& errs, const std::string& needle) {
  for (const auto& e : errs)
    if (e.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------
// Compiler.

TEST_F(Fixture, CompilesLeafAndResolvesColumn) {
  CompileResult r = compile_condition(Json::parse(R"({"field":"plan","op":"eq","value":"pro"})"),
                                      &schema, ConditionScope{});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.condition.root.kind, CondNode::Kind::Leaf);
  EXPECT_EQ(r.condition.root.column, kPlan);
  EXPECT_EQ(r.condition.root.op, CondOp::Eq);
  EXPECT_EQ(std::get<std::string>(r.condition.root.value), "pro");
}

TEST_F(Fixture, ColumnsReadSortedUnique) {
  CompiledCondition c = compile(
      R"({"all":[{"field":"age","op":"gt","value":1},{"field":"plan","op":"eq","value":"a"},
                 {"not":{"field":"age","op":"lt","value":5}},{"field":"event.x","op":"exists"}]})");
  EXPECT_EQ(c.columns_read, (std::vector<int>{kPlan, kAge}));
  EXPECT_TRUE(c.uses_event);
  EXPECT_FALSE(c.uses_context);
}

TEST_F(Fixture, UnknownColumn) {
  EXPECT_EQ(error(R"({"field":"plann","op":"eq","value":"pro"})"),
            "unknown column \"plann\" in condition (audience public.customers has no such column)");
}

TEST_F(Fixture, UnknownOp) {
  EXPECT_EQ(error(R"({"field":"plan","op":"equals","value":"pro"})"),
            "unknown op \"equals\" for field \"plan\" in condition");
  EXPECT_TRUE(has(errors(R"({"field":"plan","value":"pro"})"), "has no op"));
  EXPECT_TRUE(has(errors(R"({"field":"plan","op":3,"value":"pro"})"), "unknown op 3"));
}

TEST_F(Fixture, TypeChecksPerColumnType) {
  EXPECT_EQ(error(R"({"field":"age","op":"eq","value":"x"})"),
            "value for \"age\" must be an integer (column type integer)");
  EXPECT_TRUE(has(errors(R"({"field":"age","op":"eq","value":1.5})"), "must be an integer"));
  EXPECT_TRUE(has(errors(R"({"field":"active","op":"eq","value":1})"),
                  "value for \"active\" must be true or false (column type boolean)"));
  EXPECT_TRUE(has(errors(R"({"field":"score","op":"gt","value":"1"})"), "must be a number"));
  EXPECT_TRUE(has(errors(R"({"field":"plan","op":"eq","value":1})"),
                  "value for \"plan\" must be a string (column type text)"));
  EXPECT_TRUE(has(errors(R"({"field":"signed_up_at","op":"gt","value":5})"),
                  "must be an ISO date/time string"));
  EXPECT_TRUE(has(errors(R"({"field":"signed_up_at","op":"gt","value":"2024-02-30"})"),
                  "invalid timestamp \"2024-02-30\""));
  // Accepted forms.
  compile(R"({"field":"score","op":"gt","value":1})");
  compile(R"({"field":"score","op":"gt","value":1.5})");
  compile(R"({"field":"signed_up_at","op":"gt","value":"2024-01-01T10:00:00+02:00"})");
  compile(R"({"field":"birthday","op":"eq","value":"2000-05-01"})");
  compile(R"({"field":"prefs","op":"eq","value":{"a":1}})");
  compile(R"({"field":"ip","op":"ne","value":"10.0.0.1"})");
}

TEST_F(Fixture, OpsNotValidForType) {
  EXPECT_TRUE(has(errors(R"({"field":"active","op":"lt","value":true})"),
                  "op \"lt\" cannot be used on field \"active\" (column type boolean)"));
  EXPECT_TRUE(has(errors(R"({"field":"age","op":"starts_with","value":"1"})"),
                  "op \"starts_with\" cannot be used on field \"age\""));
  EXPECT_TRUE(has(errors(R"({"field":"age","op":"contains","value":1})"),
                  "op \"contains\" cannot be used"));
  EXPECT_TRUE(has(errors(R"({"field":"plan","op":"within","value":"7 days"})"),
                  "op \"within\" cannot be used on field \"plan\""));
  EXPECT_TRUE(has(errors(R"({"field":"prefs","op":"gt","value":1})"), "cannot be used"));
  EXPECT_TRUE(has(errors(R"({"field":"ip","op":"contains","value":"10"})"), "cannot be used"));
  EXPECT_TRUE(has(errors(R"({"field":"ip","op":"in","value":["10"]})"), "cannot be used"));
  compile(R"({"field":"active","op":"in","value":[true]})");
  compile(R"({"field":"prefs","op":"contains","value":{"news":true}})");
  compile(R"({"field":"plan","op":"starts_with","value":"pr"})");
}

TEST_F(Fixture, ValuePresenceRules) {
  EXPECT_TRUE(has(errors(R"({"field":"plan","op":"exists","value":1})"),
                  "op \"exists\" on field \"plan\" takes no value"));
  EXPECT_TRUE(has(errors(R"({"field":"plan","op":"changed","value":"x"})"), "takes no value"));
  EXPECT_TRUE(
      has(errors(R"({"field":"plan","op":"eq"})"), "op \"eq\" on field \"plan\" needs a value"));
  EXPECT_TRUE(has(errors(R"({"field":"plan","op":"eq","value":null})"), "use op \"exists\""));
  compile(R"({"field":"plan","op":"not_exists"})");
}

TEST_F(Fixture, InNotInNeedNonEmptyArraysOfFittingValues) {
  EXPECT_TRUE(has(errors(R"({"field":"plan","op":"in","value":[]})"), "must be a non-empty array"));
  EXPECT_TRUE(has(errors(R"({"field":"plan","op":"in","value":"pro"})"), "non-empty array"));
  EXPECT_TRUE(
      has(errors(R"({"field":"age","op":"not_in","value":[1,"2"]})"), "must be an integer"));
  EXPECT_TRUE(has(errors(R"({"field":"event.x","op":"in","value":[[1]]})"), "array of scalars"));
}

TEST_F(Fixture, WithinNeedsPositiveDuration) {
  EXPECT_TRUE(has(errors(R"({"field":"signed_up_at","op":"within","value":"-1 day"})"),
                  "positive duration"));
  EXPECT_TRUE(has(errors(R"({"field":"signed_up_at","op":"within","value":"3 fortnights"})"),
                  "unknown unit"));
  EXPECT_TRUE(
      has(errors(R"({"field":"signed_up_at","op":"within","value":7})"), "duration string"));
  compile(R"({"field":"birthday","op":"within","value":"7 days"})");
}

TEST_F(Fixture, ContainsTextNeedsString) {
  EXPECT_TRUE(has(errors(R"({"field":"plan","op":"contains","value":1})"), "must be a string"));
}

TEST_F(Fixture, TriggerOpsOnlyWhenScopeAllows) {
  ConditionScope s;
  s.where = "the \"when\" of step \"w\"";
  EXPECT_TRUE(has(errors(R"({"field":"plan","op":"changed"})", s),
                  "op \"changed\" (field \"plan\") is only allowed in attribute entry triggers"));
  EXPECT_TRUE(has(errors(R"({"field":"plan","op":"changed_to","value":"pro"})", s),
                  "only allowed in attribute entry triggers"));
  ConditionScope t;
  t.trigger_ops = true;
  CompiledCondition c = compile(R"({"field":"plan","op":"changed_to","value":"pro"})", t);
  EXPECT_TRUE(c.uses_trigger_ops);
  EXPECT_TRUE(
      has(errors(R"({"field":"plan","op":"changed_to","value":5})", t), "must be a string"));
  ConditionScope e = full();
  EXPECT_TRUE(has(errors(R"({"field":"event.x","op":"changed"})", e), "needs an audience column"));
}

TEST_F(Fixture, FieldScopes) {
  ConditionScope wait_until;
  wait_until.context = true;
  wait_until.where = "a wait_until condition";
  EXPECT_EQ(error(R"({"field":"event.cart_id","op":"eq","value":1})", wait_until),
            "field \"event.cart_id\" is not allowed in a wait_until condition");
  ConditionScope cols_only;
  EXPECT_TRUE(has(errors(R"({"field":"context.x","op":"exists"})", cols_only),
                  "field \"context.x\" is not allowed"));
  ConditionScope event_only;
  event_only.columns = false;
  event_only.event = true;
  EXPECT_TRUE(has(errors(R"({"field":"plan","op":"eq","value":"a"})", event_only),
                  "field \"plan\" is not allowed"));
  compile(R"({"field":"event.a.b","op":"eq","value":1})", event_only);
  EXPECT_TRUE(has(errors(R"({"field":"event.","op":"exists"})"), "needs a property name"));
  EXPECT_TRUE(has(errors(R"({"field":"event","op":"exists"})"), "needs a property name"));
  EXPECT_TRUE(has(errors(R"({"field":"event.a..b","op":"exists"})"), "empty path segment"));
  EXPECT_TRUE(has(errors(R"({"field":"","op":"exists"})"), "\"field\" must be a non-empty string"));
}

TEST_F(Fixture, DynamicValueChecks) {
  EXPECT_TRUE(
      has(errors(R"({"field":"event.x","op":"lt","value":true})"), "must be a number or a string"));
  EXPECT_TRUE(
      has(errors(R"({"field":"context.x","op":"starts_with","value":1})"), "must be a string"));
  compile(R"({"field":"event.x","op":"eq","value":"a"})");
  compile(R"({"field":"event.x","op":"contains","value":{"a":1}})");
}

TEST_F(Fixture, StructuralErrors) {
  EXPECT_TRUE(has(errors(R"("plan")"), "expected a JSON object"));
  EXPECT_TRUE(has(errors(R"({"all":[]})"), "\"all\" must be a non-empty array"));
  EXPECT_TRUE(has(errors(R"({"any":{}})"), "\"any\" must be a non-empty array"));
  EXPECT_TRUE(has(errors(R"({})"), "expected one of"));
  EXPECT_TRUE(has(errors(R"({"all":[{"field":"age","op":"eq","value":1}],"field":"x"})"),
                  "cannot be combined"));
  EXPECT_TRUE(has(errors(R"({"field":"plan","op":"eq","vaule":"x"})"), "unknown key \"vaule\""));
  EXPECT_TRUE(
      has(errors(R"({"not":{"field":"plan","op":"eq","value":"a"},"x":1})"), "unknown key \"x\""));
}

TEST_F(Fixture, ReportsAllErrorsNotJustFirst) {
  auto e = errors(R"({"all":[{"field":"plann","op":"eq","value":1},
                             {"field":"age","op":"eq","value":"x"},
                             {"any":[{"field":"plan","op":"bogus","value":1}]}]})");
  EXPECT_EQ(e.size(), 3u);
  EXPECT_TRUE(has(e, "unknown column \"plann\""));
  EXPECT_TRUE(has(e, "value for \"age\""));
  EXPECT_TRUE(has(e, "unknown op \"bogus\""));
}

TEST_F(Fixture, BehaviourLeafChecks) {
  ConditionScope no;
  no.where = "the \"when\" of step \"w\"";
  EXPECT_TRUE(has(errors(R"({"event":"email_opened"})", no),
                  "behaviour condition on event \"email_opened\" is not allowed"));
  EXPECT_TRUE(has(errors(R"({"event":""})"), "non-empty string"));
  EXPECT_TRUE(has(errors(R"({"event":"e","happened":"yes"})"), "true or false"));
  EXPECT_TRUE(has(errors(R"({"event":"e","within":"0 days"})"), "positive duration"));
  EXPECT_TRUE(has(errors(R"({"event":"e","within":"2 eons"})"), "unknown unit"));
  EXPECT_TRUE(has(errors(R"({"event":"e","step":5})"), "\"step\" must be"));
  EXPECT_TRUE(has(errors(R"({"event":"e","bogus":1})"), "unknown key \"bogus\""));
  CompiledCondition c =
      compile(R"({"event":"email_opened","step":"welcome","happened":false,"within":"3 days"})");
  EXPECT_EQ(c.root.kind, CondNode::Kind::Behaviour);
  EXPECT_EQ(c.root.step, "welcome");
  EXPECT_FALSE(c.root.happened);
  EXPECT_EQ(c.root.within, (Duration{0, 3, 0}));
  EXPECT_TRUE(c.uses_behaviour);
}

TEST_F(Fixture, NullSchemaSkipsColumnChecks) {
  CompileResult r = compile_condition(Json::parse(R"({"field":"whatever","op":"eq","value":1})"),
                                      nullptr, ConditionScope{});
  EXPECT_TRUE(r.ok());
  r = compile_condition(Json::parse(R"({"field":"whatever","op":"nope","value":1})"), nullptr,
                        ConditionScope{});
  EXPECT_FALSE(r.ok());
}

TEST(ConditionOps, NamesRoundTrip) {
  for (const char* n : {"eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in", "contains",
                        "starts_with", "exists", "not_exists", "changed", "changed_to", "within"}) {
    auto op = parse_op(n);
    ASSERT_TRUE(op.has_value()) << n;
    EXPECT_STREQ(op_name(*op), n);
  }
  EXPECT_FALSE(parse_op("equals").has_value());
}

// ---------------------------------------------------------------------------
// Evaluator.

TEST_F(Fixture, EqNeOnEveryType) {
  row[kPlan] = std::string("pro");
  row[kAge] = int64_t{30};
  row[kScore] = 2.5;
  row[kActive] = true;
  row[kIp] = std::string("10.0.0.1");
  EXPECT_TRUE(eval(R"({"field":"plan","op":"eq","value":"pro"})"));
  EXPECT_FALSE(eval(R"({"field":"plan","op":"eq","value":"free"})"));
  EXPECT_TRUE(eval(R"({"field":"plan","op":"ne","value":"free"})"));
  EXPECT_FALSE(eval(R"({"field":"plan","op":"ne","value":"pro"})"));
  EXPECT_TRUE(eval(R"({"field":"age","op":"eq","value":30})"));
  EXPECT_TRUE(eval(R"({"field":"score","op":"eq","value":2.5})"));
  EXPECT_TRUE(eval(R"({"field":"active","op":"eq","value":true})"));
  EXPECT_FALSE(eval(R"({"field":"active","op":"eq","value":false})"));
  EXPECT_TRUE(eval(R"({"field":"ip","op":"eq","value":"10.0.0.1"})"));
  EXPECT_TRUE(eval(R"({"field":"ip","op":"ne","value":"10.0.0.2"})"));
}

TEST_F(Fixture, OrderingOps) {
  row[kAge] = int64_t{30};
  row[kScore] = 2.5;
  row[kPlan] = std::string("b");
  EXPECT_TRUE(eval(R"({"field":"age","op":"lt","value":31})"));
  EXPECT_FALSE(eval(R"({"field":"age","op":"lt","value":30})"));
  EXPECT_TRUE(eval(R"({"field":"age","op":"lte","value":30})"));
  EXPECT_FALSE(eval(R"({"field":"age","op":"lte","value":29})"));
  EXPECT_TRUE(eval(R"({"field":"age","op":"gt","value":29})"));
  EXPECT_FALSE(eval(R"({"field":"age","op":"gt","value":30})"));
  EXPECT_TRUE(eval(R"({"field":"age","op":"gte","value":30})"));
  EXPECT_FALSE(eval(R"({"field":"age","op":"gte","value":31})"));
  EXPECT_TRUE(eval(R"({"field":"score","op":"gt","value":2})"));
  EXPECT_TRUE(eval(R"({"field":"score","op":"lt","value":2.6})"));
  EXPECT_TRUE(eval(R"({"field":"plan","op":"gt","value":"a"})"));
  EXPECT_FALSE(eval(R"({"field":"plan","op":"gt","value":"c"})"));
}

TEST_F(Fixture, IntFloatCompareNumerically) {
  row[kAge] = 30.0;  // pg layer may hand a numeric as double
  EXPECT_TRUE(eval(R"({"field":"age","op":"eq","value":30})"));
  row[kScore] = int64_t{3};
  EXPECT_TRUE(eval(R"({"field":"score","op":"gt","value":2.5})"));
  EXPECT_TRUE(eval(R"({"field":"score","op":"eq","value":3})"));
}

TEST_F(Fixture, TimestampsAndDates) {
  row[kSignedUp] = Timestamp{kNow - 2 * 86400 * kSec};  // 2024-01-29T09:00Z
  row[kBirthday] = Timestamp{*parse_timestamp("2000-05-01", nullptr)};
  EXPECT_TRUE(eval(R"({"field":"signed_up_at","op":"gt","value":"2024-01-29"})"));
  EXPECT_TRUE(eval(R"({"field":"signed_up_at","op":"eq","value":"2024-01-29T10:00:00+01:00"})"));
  EXPECT_TRUE(eval(R"({"field":"signed_up_at","op":"lt","value":"2024-01-29T09:00:01Z"})"));
  EXPECT_TRUE(eval(R"({"field":"birthday","op":"eq","value":"2000-05-01"})"));
  EXPECT_TRUE(eval(R"({"field":"birthday","op":"lt","value":"2000-05-01T00:00:01"})"));
}

TEST_F(Fixture, WithinWindow) {
  row[kSignedUp] = Timestamp{kNow - 2 * 86400 * kSec};
  EXPECT_TRUE(eval(R"({"field":"signed_up_at","op":"within","value":"3 days"})"));
  EXPECT_TRUE(eval(R"({"field":"signed_up_at","op":"within","value":"2 days"})"));  // boundary
  EXPECT_FALSE(eval(R"({"field":"signed_up_at","op":"within","value":"1 day"})"));
  EXPECT_TRUE(eval(R"({"field":"signed_up_at","op":"within","value":"1 month"})"));
  row[kSignedUp] = Timestamp{kNow + kSec};  // future: not within
  EXPECT_FALSE(eval(R"({"field":"signed_up_at","op":"within","value":"3 days"})"));
  row[kSignedUp] = Value{};
  EXPECT_FALSE(eval(R"({"field":"signed_up_at","op":"within","value":"3 days"})"));
  context["seen"] = "2024-01-30T09:00:00Z";
  EXPECT_TRUE(eval(R"({"field":"context.seen","op":"within","value":"2 days"})"));
  EXPECT_FALSE(eval(R"({"field":"context.seen","op":"within","value":"1 hour"})"));
}

TEST_F(Fixture, InNotIn) {
  row[kPlan] = std::string("pro");
  row[kAge] = int64_t{3};
  EXPECT_TRUE(eval(R"({"field":"plan","op":"in","value":["free","pro"]})"));
  EXPECT_FALSE(eval(R"({"field":"plan","op":"in","value":["free","team"]})"));
  EXPECT_TRUE(eval(R"({"field":"plan","op":"not_in","value":["free","team"]})"));
  EXPECT_FALSE(eval(R"({"field":"plan","op":"not_in","value":["pro"]})"));
  EXPECT_TRUE(eval(R"({"field":"age","op":"in","value":[1,2,3]})"));
  row[kPlan] = Value{};
  EXPECT_FALSE(eval(R"({"field":"plan","op":"in","value":["pro"]})"));
  EXPECT_FALSE(eval(R"({"field":"plan","op":"not_in","value":["pro"]})"));
  event["sku"] = "A1";
  EXPECT_TRUE(eval(R"({"field":"event.sku","op":"in","value":["A1","B2"]})"));
  EXPECT_TRUE(eval(R"({"field":"event.sku","op":"not_in","value":["B2", 3]})"));
  EXPECT_FALSE(eval(R"({"field":"event.missing","op":"not_in","value":["B2"]})"));
}

TEST_F(Fixture, ContainsAndStartsWith) {
  row[kEmail] = std::string("ann@example.com");
  EXPECT_TRUE(eval(R"({"field":"email","op":"contains","value":"@example"})"));
  EXPECT_FALSE(eval(R"({"field":"email","op":"contains","value":"@other"})"));
  EXPECT_TRUE(eval(R"({"field":"email","op":"starts_with","value":"ann"})"));
  EXPECT_FALSE(eval(R"({"field":"email","op":"starts_with","value":"bob"})"));
  EXPECT_FALSE(eval(R"({"field":"email","op":"starts_with","value":"ann@example.com.x"})"));
  row[kPrefs] = std::string(R"({"news":true,"tags":["a","b"],"n":1})");
  EXPECT_TRUE(eval(R"({"field":"prefs","op":"contains","value":{"news":true}})"));
  EXPECT_TRUE(eval(R"({"field":"prefs","op":"contains","value":{"tags":["b"]}})"));
  EXPECT_FALSE(eval(R"({"field":"prefs","op":"contains","value":{"tags":["c"]}})"));
  EXPECT_FALSE(eval(R"({"field":"prefs","op":"contains","value":{"news":false}})"));
  EXPECT_TRUE(eval(R"({"field":"prefs","op":"eq","value":{"n":1,"news":true,"tags":["a","b"]}})"));
  event["tags"] = Json::array({"vip", "beta"});
  event["name"] = "spring sale";
  EXPECT_TRUE(eval(R"({"field":"event.tags","op":"contains","value":"vip"})"));
  EXPECT_TRUE(eval(R"({"field":"event.tags","op":"contains","value":["beta","vip"]})"));
  EXPECT_FALSE(eval(R"({"field":"event.tags","op":"contains","value":"gold"})"));
  EXPECT_TRUE(eval(R"({"field":"event.name","op":"contains","value":"sale"})"));
  EXPECT_TRUE(eval(R"({"field":"event.name","op":"starts_with","value":"spring"})"));
  EXPECT_FALSE(eval(R"({"field":"event.tags","op":"starts_with","value":"vip"})"));
}

TEST_F(Fixture, ExistsAndNullSemantics) {
  EXPECT_FALSE(eval(R"({"field":"plan","op":"exists"})"));
  EXPECT_TRUE(eval(R"({"field":"plan","op":"not_exists"})"));
  EXPECT_FALSE(eval(R"({"field":"plan","op":"eq","value":"pro"})"));
  EXPECT_FALSE(eval(R"({"field":"plan","op":"ne","value":"pro"})"));
  EXPECT_TRUE(eval(R"({"not":{"field":"plan","op":"eq","value":"pro"}})"));
  EXPECT_FALSE(eval(R"({"field":"age","op":"lt","value":100})"));
  row[kPlan] = std::string("pro");
  EXPECT_TRUE(eval(R"({"field":"plan","op":"exists"})"));
  EXPECT_FALSE(eval(R"({"field":"plan","op":"not_exists"})"));
  // Event / context: missing and JSON null are both "absent".
  event["a"] = nullptr;
  EXPECT_FALSE(eval(R"({"field":"event.a","op":"exists"})"));
  EXPECT_TRUE(eval(R"({"field":"event.b","op":"not_exists"})"));
  EXPECT_FALSE(eval(R"({"field":"event.b","op":"ne","value":1})"));
  // No row at all.
  CompiledCondition c = compile(R"({"field":"plan","op":"not_exists"})");
  EXPECT_TRUE(evaluate(c, EvalInput{}));
}

TEST_F(Fixture, DynamicTypesMismatchCompareFalse) {
  event["n"] = 5;
  event["s"] = "5";
  event["b"] = true;
  event["f"] = 5.0;
  EXPECT_TRUE(eval(R"({"field":"event.n","op":"eq","value":5})"));
  EXPECT_TRUE(eval(R"({"field":"event.f","op":"eq","value":5})"));
  EXPECT_FALSE(eval(R"({"field":"event.n","op":"eq","value":"5"})"));
  EXPECT_FALSE(eval(R"({"field":"event.n","op":"ne","value":"5"})"));
  EXPECT_TRUE(eval(R"({"field":"event.n","op":"ne","value":6})"));
  EXPECT_TRUE(eval(R"({"field":"event.s","op":"eq","value":"5"})"));
  EXPECT_FALSE(eval(R"({"field":"event.s","op":"gt","value":4})"));
  EXPECT_TRUE(eval(R"({"field":"event.n","op":"gt","value":4.5})"));
  EXPECT_TRUE(eval(R"({"field":"event.b","op":"eq","value":true})"));
  EXPECT_FALSE(eval(R"({"field":"event.b","op":"eq","value":1})"));
}

TEST_F(Fixture, NestedPathsAndContext) {
  event["cart"] = {{"id", "c-9"}, {"total", 120}};
  context["cart_id"] = "c-9";
  EXPECT_TRUE(eval(R"({"field":"event.cart.id","op":"eq","value":"c-9"})"));
  EXPECT_TRUE(eval(R"({"field":"event.cart.total","op":"gte","value":100})"));
  EXPECT_FALSE(eval(R"({"field":"event.cart.id.x","op":"exists"})"));
  EXPECT_TRUE(eval(R"({"field":"context.cart_id","op":"eq","value":"c-9"})"));
}

TEST_F(Fixture, ChangedOnInsertAndUpdate) {
  const char* changed = R"({"field":"plan","op":"changed"})";
  const char* changed_to = R"({"field":"plan","op":"changed_to","value":"pro"})";
  // Insert: changed when the new value is non-null.
  EXPECT_FALSE(eval(changed));
  row[kPlan] = std::string("pro");
  EXPECT_TRUE(eval(changed));
  EXPECT_TRUE(eval(changed_to));
  row[kPlan] = std::string("free");
  EXPECT_FALSE(eval(changed_to));
  // Update.
  old_row[kPlan] = std::string("free");
  EXPECT_FALSE(eval(changed, true));
  row[kPlan] = std::string("pro");
  EXPECT_TRUE(eval(changed, true));
  EXPECT_TRUE(eval(changed_to, true));
  old_row[kPlan] = std::string("pro");
  EXPECT_FALSE(eval(changed_to, true));  // already pro
  row[kPlan] = Value{};
  EXPECT_TRUE(eval(changed, true));  // pro -> null
  EXPECT_FALSE(eval(changed_to, true));
  old_row[kPlan] = Value{};
  EXPECT_FALSE(eval(changed, true));  // null -> null
  row[kAge] = int64_t{3};
  old_row[kAge] = 3.0;
  EXPECT_FALSE(eval(R"({"field":"age","op":"changed"})", true));  // numerically equal
}

TEST_F(Fixture, AllAnyNot) {
  row[kPlan] = std::string("pro");
  row[kAge] = int64_t{30};
  EXPECT_TRUE(eval(R"({"all":[{"field":"plan","op":"eq","value":"pro"},
                              {"field":"age","op":"gt","value":18}]})"));
  EXPECT_FALSE(eval(R"({"all":[{"field":"plan","op":"eq","value":"pro"},
                               {"field":"age","op":"gt","value":40}]})"));
  EXPECT_TRUE(eval(R"({"any":[{"field":"plan","op":"eq","value":"free"},
                              {"field":"age","op":"gt","value":18}]})"));
  EXPECT_FALSE(eval(R"({"any":[{"field":"plan","op":"eq","value":"free"},
                               {"field":"age","op":"gt","value":40}]})"));
  EXPECT_FALSE(eval(R"({"not":{"field":"plan","op":"eq","value":"pro"}})"));
  EXPECT_TRUE(eval(R"({"not":{"not":{"field":"plan","op":"eq","value":"pro"}}})"));
}

namespace {

// Fake behaviour lookup: knows which (event, step) pairs happened how long ago.
struct FakeLookup : BehaviourLookup {
  int64_t age_micros = 0;
  std::string event = "email_opened";
  std::string step = "welcome";
  std::vector<std::string> calls;
  bool happened(const std::string& e, const std::string& s, std::optional<Duration> w) override {
    calls.push_back(e + "/" + s + "/" + (w ? std::to_string(w->days) : "ever"));
    if (e != event) return false;
    if (!s.empty() && s != step) return false;
    return !w || w->approx_micros() >= age_micros;
  }
};

}  // namespace

TEST_F(Fixture, BehaviourLeaf) {
  FakeLookup b;
  b.age_micros = 2 * 86400 * kSec;
  EXPECT_TRUE(eval(R"({"event":"email_opened"})", false, &b));
  EXPECT_TRUE(eval(R"({"event":"email_opened","step":"welcome","within":"3 days"})", false, &b));
  EXPECT_FALSE(eval(R"({"event":"email_opened","step":"welcome","within":"1 day"})", false, &b));
  EXPECT_TRUE(eval(R"({"event":"email_opened","happened":false,"within":"1 day"})", false, &b));
  EXPECT_FALSE(eval(R"({"event":"email_opened","step":"other"})", false, &b));
  EXPECT_FALSE(eval(R"({"event":"clicked","happened":true})", false, &b));
  EXPECT_TRUE(eval(R"({"event":"clicked","happened":false})", false, &b));
  ASSERT_FALSE(b.calls.empty());
  EXPECT_EQ(b.calls[1], "email_opened/welcome/3");
  EXPECT_EQ(b.calls[0], "email_opened//ever");
  // No lookup supplied: the leaf is false.
  EXPECT_FALSE(eval(R"({"event":"email_opened"})"));
}

TEST(JsonContains, Rules) {
  EXPECT_TRUE(
      json_contains(Json::parse(R"({"a":1,"b":{"c":2,"d":3}})"), Json::parse(R"({"b":{"c":2}})")));
  EXPECT_FALSE(json_contains(Json::parse(R"({"a":1})"), Json::parse(R"({"a":2})")));
  EXPECT_TRUE(json_contains(Json::parse("[1,2,3]"), Json::parse("[3,1]")));
  EXPECT_TRUE(json_contains(Json::parse("[1,2,3]"), Json::parse("2")));
  EXPECT_FALSE(json_contains(Json::parse("[1,2,3]"), Json::parse("4")));
  EXPECT_TRUE(json_contains(Json::parse(R"([{"a":1,"b":2}])"), Json::parse(R"([{"a":1}])")));
  EXPECT_TRUE(json_contains(Json::parse("\"x\""), Json::parse("\"x\"")));
  EXPECT_FALSE(json_contains(Json::parse("1"), Json::parse("[1]")));
}

TEST(ValueHelpers, ToJsonAndText) {
  EXPECT_EQ(value_to_json(Value{}), Json(nullptr));
  EXPECT_EQ(value_to_json(Value{int64_t{5}}), Json(5));
  EXPECT_EQ(value_to_json(Value{Timestamp{0}}), Json("1970-01-01T00:00:00Z"));
  EXPECT_FALSE(value_to_text(Value{}).has_value());
  EXPECT_EQ(value_to_text(Value{true}), "true");
  EXPECT_EQ(value_to_text(Value{2.5}), "2.5");
  EXPECT_EQ(value_to_text(Value{std::string("x")}), "x");
}

}  // namespace PGJ_UNIT_ID
