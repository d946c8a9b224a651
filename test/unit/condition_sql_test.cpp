// condition_to_sql: the SQL form of segment conditions.
#include <gtest/gtest.h>

#include "core/condition_sql.hpp"
#include "core/error.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

AudienceSchema schema() {
  AudienceSchema s = pgj::unit::audience_schema("public.customers");
  s.columns = {{"id", ValueType::Int, "bigint"},
               {"plan", ValueType::Text, "text"},
               {"age", ValueType::Int, "integer"},
               {"seen", ValueType::Timestamp, "timestamp with time zone"},
               {"attrs", ValueType::Json, "jsonb"}};
  return s;
}

SqlQuoting quoting() {
  return {[](const std::string& s) { return "\"" + s + "\""; },
          [](const std::string& s) {
            std::string out = "'";
            for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
            return out + "'";
          }};
}

std::string sql(const char* json) {
  return condition_to_sql(Json::parse(json), schema(), quoting());
}

}  // namespace

TEST(ConditionSql, Comparisons) {
  EXPECT_EQ(sql(R"({"field": "plan", "op": "eq", "value": "pro"})"), "(t.\"plan\" = 'pro'::text)");
  EXPECT_EQ(sql(R"({"field": "age", "op": "gte", "value": 18})"), "(t.\"age\" >= '18'::integer)");
  EXPECT_EQ(sql(R"({"field": "plan", "op": "ne", "value": "x"})"), "(t.\"plan\" <> 'x'::text)");
}

TEST(ConditionSql, QuotesLiterals) {
  EXPECT_EQ(sql(R"({"field": "plan", "op": "eq", "value": "o'neil"})"),
            "(t.\"plan\" = 'o''neil'::text)");
}

TEST(ConditionSql, Combinators) {
  EXPECT_EQ(
      sql(R"({"all": [{"field": "plan", "op": "exists"}, {"not": {"field": "age", "op": "not_exists"}}]})"),
      "(coalesce((t.\"plan\" IS NOT NULL), false) AND coalesce((NOT coalesce((t.\"age\" IS NULL), "
      "false)), false))");
  EXPECT_EQ(sql(R"({"any": [{"field": "plan", "op": "in", "value": ["a", "b"]}]})"),
            "(coalesce((t.\"plan\" IN ('a'::text, 'b'::text)), false))");
}

TEST(ConditionSql, TextAndJsonOps) {
  EXPECT_EQ(sql(R"({"field": "plan", "op": "starts_with", "value": "pr"})"),
            "starts_with(t.\"plan\"::text, 'pr')");
  EXPECT_EQ(sql(R"({"field": "attrs", "op": "contains", "value": {"vip": true}})"),
            "(t.\"attrs\"::jsonb @> '{\"vip\":true}'::jsonb)");
  std::string within = sql(R"({"field": "seen", "op": "within", "value": "7 days"})");
  EXPECT_EQ(within.rfind("(t.\"seen\" >= now() - '", 0), 0u) << within;
  EXPECT_NE(within.find("::interval AND t.\"seen\" <= now())"), std::string::npos) << within;
}

// A string compared with a jsonb column was cast as 'pro'::jsonb, which is
// not JSON: the segment query failed every time it ran.
TEST(ConditionSql, JsonColumnComparedWithJsonText) {
  EXPECT_EQ(sql(R"({"field": "attrs", "op": "eq", "value": "pro"})"),
            "(t.\"attrs\" = '\"pro\"'::jsonb)");
  EXPECT_EQ(sql(R"({"field": "attrs", "op": "ne", "value": {"a": [1, "x"]}})"),
            "(t.\"attrs\" <> '{\"a\":[1,\"x\"]}'::jsonb)");
}

TEST(ConditionSql, RejectsWhatHasNoSqlForm) {
  EXPECT_THROW(sql(R"({"field": "context.x", "op": "eq", "value": 1})"), Error);
  EXPECT_THROW(sql(R"({"event": "opened"})"), Error);
  EXPECT_THROW(sql(R"({"field": "plan", "op": "changed"})"), Error);
}

}  // namespace PGJ_UNIT_ID
