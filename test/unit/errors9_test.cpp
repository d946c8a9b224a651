// Errors that carry their context (issue 9; attack-9 F3, F8): an update_field
// value the column's type refuses names step, column and source and keeps the
// database's SQLSTATE; a published version that no longer compiles against
// its audience says which SQLSTATE the cause is (42703, 42804), not XX000.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/compile.hpp"
#include "core/engine.hpp"
#include "core/error.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

AudienceSchema people() {
  AudienceSchema s = pgj::unit::audience_schema("public.people");
  s.columns = {{"id", ValueType::Text, "text"},
               {"small", ValueType::Int, "smallint"},
               {"note", ValueType::Text, "text"}};
  return s;
}

// Refuses integers outside smallint's range, as PostgreSQL's int2in does.
struct SmallintRuntime : pgj::unit::TemplatesRuntime {
  std::vector<int> checked;  // columns asked about
  int64_t add_duration(int64_t ts, const Duration& d, const std::string&) override {
    return ts + d.micros;
  }
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
  void check_column_value(int column, const Json& value) override {
    checked.push_back(column);
    if (value.is_number_integer() && value.get<int64_t>() > 32767)
      throw Error("22003", "value \"" + value.dump() + "\" is out of range for type smallint");
  }
};

RunResult run_with(const char* steps, const Json& event, SmallintRuntime& rt) {
  AudienceSchema a = people();
  CompiledJourney j = compile_journey(pgj::unit::journey_def("public.people", steps), a, 1, 1);
  Enrollment e;
  e.customer_id = "1";
  e.step = 0;
  e.last_event = event;
  std::vector<Value> row(a.columns.size());
  return run_enrollment(j, a, e, row, 0, rt);
}

}  // namespace

TEST(Errors9, UpdateFieldOutOfRangeNamesStepColumnAndSource) {
  SmallintRuntime rt;
  try {
    run_with(R"([{"key": "u", "type": "update_field", "set": {"small": {"from": "event.big"}}}])",
             Json::parse(R"({"big": 99999})"), rt);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "22003");
    EXPECT_STREQ(e.what(),
                 "update_field step \"u\": event.big is 99999, not a value for column \"small\" "
                 "(smallint): value \"99999\" is out of range for type smallint");
  }
}

TEST(Errors9, UpdateFieldConstantOutOfRangeNamesStepAndColumn) {
  SmallintRuntime rt;
  try {
    run_with(R"([{"key": "u", "type": "update_field", "set": {"small": 40000}}])", Json(), rt);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "22003");
    EXPECT_STREQ(e.what(),
                 "update_field step \"u\": 40000 is not a value for column \"small\" (smallint): "
                 "value \"40000\" is out of range for type smallint");
  }
}

TEST(Errors9, UpdateFieldInRangeIsCheckedAndWritten) {
  SmallintRuntime rt;
  RunResult r = run_with(
      R"([{"key": "u", "type": "update_field", "set": {"small": {"from": "event.big"}, "note": null}}])",
      Json::parse(R"({"big": 7})"), rt);
  EXPECT_EQ(rt.checked, std::vector<int>{1});  // null needs no check
  ASSERT_EQ(r.updates.size(), 2u);             // in column name order: note, small
  EXPECT_TRUE(r.updates[0].value.is_null());
  EXPECT_EQ(r.updates[1].column, 1);
  EXPECT_EQ(r.updates[1].value, 7);
}

TEST(Errors9, CompileOfAMissingColumnIsUndefinedColumn) {
  AudienceSchema without_note = people();
  without_note.columns.pop_back();
  Json def = pgj::unit::journey_def("public.people", R"([
      {"key": "c", "type": "condition", "if": {"field": "note", "op": "exists"},
       "branches": {"yes": "e", "no": "e"}},
      {"key": "e", "type": "exit"}])");
  ValidationEnv env;
  env.audience = &without_note;
  Compilation c = compile_definition(def, env);
  ASSERT_FALSE(c.usable());
  EXPECT_EQ(c.unusable_code, "42703");
  try {
    compile_journey(def, without_note, 1, 1);
    FAIL() << "compiled";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "42703");
  }
  // A missing update_field column.
  c = compile_definition(pgj::unit::journey_def("public.people", R"([
      {"key": "u", "type": "update_field", "set": {"note": "x"}}])"),
                         env);
  EXPECT_EQ(c.unusable_code, "42703");
}

TEST(Errors9, CompileProblemOfTheDefinitionStaysInternal) {
  AudienceSchema a = people();
  ValidationEnv env;
  env.audience = &a;
  Compilation c = compile_definition(
      pgj::unit::journey_def("public.people", R"([{"key": "a", "type": "send_email"}])"), env);
  ASSERT_FALSE(c.usable());
  EXPECT_EQ(c.unusable_code, "XX000");
}

}  // namespace PGJ_UNIT_ID
