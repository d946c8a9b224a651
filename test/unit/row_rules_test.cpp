// The customer-table trigger's decisions (src/core/row_rules.hpp): narrowing
// the rules to the updated columns, edge-triggered entry, the first matching
// exit rule, wake-ups.
#include "core/row_rules.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pgj::core {
namespace PGJ_UNIT_ID {
namespace {

AudienceSchema schema() {
  AudienceSchema a;
  a.key_column = "id";
  a.columns = {{"id", ValueType::Int, "int"},
               {"plan", ValueType::Text, "text"},
               {"score", ValueType::Int, "int"},
               {"gone", ValueType::Bool, "boolean"}};
  return a;
}

CompiledCondition compile(const char* json, bool trigger_ops = false, bool context = false) {
  static const AudienceSchema audience = schema();
  ConditionScope scope;
  scope.trigger_ops = trigger_ops;
  scope.context = context;
  CompileResult r = compile_condition(Json::parse(json), &audience, scope);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  return r.condition;
}

std::vector<Value> row(int64_t id, const char* plan, int64_t score, bool gone) {
  return {id, std::string(plan), score, gone};
}

struct Fixture {
  CompiledCondition is_pro = compile(R"({"field": "plan", "op": "eq", "value": "pro"})");
  CompiledCondition became_vip =
      compile(R"({"field": "score", "op": "changed_to", "value": 100})", true);
  CompiledCondition gone = compile(R"({"field": "gone", "op": "eq", "value": true})");
  CompiledCondition high = compile(R"({"field": "score", "op": "gte", "value": 50})");
  CompiledCondition on_context =
      compile(R"({"field": "context.tier", "op": "eq", "value": "x"})", false, true);

  std::vector<RowRules> rules() {
    RowRules r;
    r.journey_id = 7;
    r.version = 2;
    r.entries = {is_pro};
    r.exits = {{"exit rule exit[0]", false, &gone}, {"exit rule exit[1]", true, &high}};
    r.waits = {{"wait_high", &high}, {"wait_ctx", &on_context}};
    RowRules t;
    t.journey_id = 8;
    t.version = 1;
    t.entries = {became_vip};
    return {r, t};
  }
};

OldRow no_old() {
  return [] { return static_cast<const std::vector<Value>*>(nullptr); };
}

TEST(RowRules, EntryIsEdgeTriggered) {
  Fixture f;
  auto rules = f.rules();
  auto free_row = row(1, "free", 0, false);
  auto pro_row = row(1, "pro", 0, false);
  // INSERT of a matching row (no OLD): enters.
  RowEffects fx = row_change_effects(rules, pro_row, no_old(), 0);
  EXPECT_EQ(fx.entered, std::vector<size_t>{0});
  // UPDATE free -> pro: enters; pro -> pro (another column changed): does not.
  fx = row_change_effects(
      rules, pro_row, [&] { return &free_row; }, 0);
  EXPECT_EQ(fx.entered, std::vector<size_t>{0});
  fx = row_change_effects(
      rules, pro_row, [&] { return &pro_row; }, 0);
  EXPECT_TRUE(fx.entered.empty());
}

TEST(RowRules, TriggerOpsCompareOldAndNew) {
  Fixture f;
  auto rules = f.rules();
  auto before = row(1, "free", 10, false);
  auto after = row(1, "free", 100, false);
  RowEffects fx = row_change_effects(
      rules, after, [&] { return &before; }, 0);
  EXPECT_EQ(fx.entered, std::vector<size_t>{1});
  fx = row_change_effects(
      rules, after, [&] { return &after; }, 0);
  EXPECT_TRUE(fx.entered.empty());
}

TEST(RowRules, FirstMatchingExitAndEveryWake) {
  Fixture f;
  auto rules = f.rules();
  auto both = row(1, "free", 60, true);  // matches exit 0 and exit 1
  RowEffects fx = row_change_effects(rules, both, no_old(), 0);
  ASSERT_EQ(fx.exits.size(), 1u);
  EXPECT_EQ(fx.exits[0].rule, 0u);
  EXPECT_EQ(fx.exits[0].exit->reason, "exit rule exit[0]");
  EXPECT_FALSE(fx.exits[0].exit->is_goal);
  // Both waits: the one that matches, and the one on the context (the engine judges it).
  ASSERT_EQ(fx.wakes.size(), 2u);
  EXPECT_EQ(fx.wakes[0].wait->step_key, "wait_high");
  EXPECT_EQ(fx.wakes[1].wait->step_key, "wait_ctx");

  auto goal = row(1, "free", 60, false);
  fx = row_change_effects(rules, goal, no_old(), 0);
  ASSERT_EQ(fx.exits.size(), 1u);
  EXPECT_EQ(fx.exits[0].exit->reason, "exit rule exit[1]");
  EXPECT_TRUE(fx.exits[0].exit->is_goal);

  auto none = row(1, "free", 10, false);
  fx = row_change_effects(rules, none, no_old(), 0);
  EXPECT_TRUE(fx.exits.empty());
  ASSERT_EQ(fx.wakes.size(), 1u);
  EXPECT_EQ(fx.wakes[0].wait->step_key, "wait_ctx");
}

TEST(RowRules, OldRowAskedOnlyWhenNeeded) {
  Fixture f;
  std::vector<RowRules> rules = f.rules();
  rules.pop_back();  // no changed_to entry left
  int asked = 0;
  auto free_row = row(1, "free", 0, false);
  OldRow counting = [&] {
    ++asked;
    return &free_row;
  };
  row_change_effects(rules, row(1, "free", 0, false), counting, 0);
  EXPECT_EQ(asked, 0);  // NEW does not match the entry: OLD never read
  row_change_effects(rules, row(1, "pro", 0, false), counting, 0);
  EXPECT_EQ(asked, 1);
}

TEST(RowRules, NarrowToUpdatedColumns) {
  Fixture f;
  std::vector<RowRules> rules = f.rules();
  // Only `gone` was set: the plan entry, the score entry, the score exit and
  // the score wait cannot change their verdict; the context wait reads no column.
  std::vector<bool> updated{false, false, false, true};
  RowReads reads = narrow_rules(rules, &updated, true);
  EXPECT_TRUE(reads.any);
  EXPECT_FALSE(reads.needs_old);
  EXPECT_EQ(reads.columns, std::vector<int>{3});
  EXPECT_TRUE(rules[0].entries.empty());
  ASSERT_EQ(rules[0].exits.size(), 1u);
  EXPECT_EQ(rules[0].exits[0].reason, "exit rule exit[0]");
  EXPECT_TRUE(rules[0].waits.empty());
  EXPECT_TRUE(rules[1].empty());

  // An INSERT (no updated set) keeps everything; an UPDATE then needs OLD.
  rules = f.rules();
  reads = narrow_rules(rules, nullptr, true);
  EXPECT_TRUE(reads.needs_old);
  EXPECT_EQ(reads.columns, (std::vector<int>{1, 2, 3}));
  reads = narrow_rules(rules, nullptr, false);
  EXPECT_FALSE(reads.needs_old);

  // Nothing read was set: nothing left.
  rules = f.rules();
  std::vector<bool> only_id{true, false, false, false};
  rules[0].waits.pop_back();
  EXPECT_FALSE(narrow_rules(rules, &only_id, true).any);
}

}  // namespace
}  // namespace PGJ_UNIT_ID
}  // namespace pgj::core
