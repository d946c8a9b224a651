// Audit-9b S6, S7 (task r9): version migration and resume's re-arm decided in
// core from the compiled steps (core::migration_of, core::rearms_on_skip),
// where lifecycle.sql read the step configs raw.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "core/engine.hpp"
#include "core/migration.hpp"
#include "fixtures.hpp"

namespace pgj::core {
namespace PGJ_UNIT_ID {
namespace {

// The new version the enrollments migrate to: one step of each kind the cases need.
CompiledJourney new_version() {
  AudienceSchema schema = unit::audience_schema("t");
  schema.columns.push_back({"id", ValueType::Int, "integer"});
  schema.columns.push_back({"renews", ValueType::Timestamp, "timestamp with time zone"});
  return compile_journey(unit::journey_def("t", R"([
      {"key": "w", "type": "wait_for_event", "event": "clicked", "timeout": "1 day"},
      {"key": "u", "type": "wait_until", "when": {"field": "id", "op": "eq", "value": 1}},
      {"key": "d", "type": "delay", "duration": "2 days"},
      {"key": "at9", "type": "delay", "until": {"time": "09:00"}},
      {"key": "field", "type": "delay", "until_field": "renews", "offset": "-1 day"},
      {"key": "x", "type": "exit"}])"),
                         schema, 1, 2);
}

const CompiledStep* step(const CompiledJourney& j, const char* key) {
  int i = j.find(key);
  return i < 0 ? nullptr : &j.steps[i];
}

constexpr int64_t kNow = 1'000'000;

// Parked at a wait_for_event that is one in the new version too: it keeps its
// place (arrival and deadline), waits for the NEW event, is re-armed and runs
// at the next tick (its old wake time brought forward to now).
TEST(Migration, ParkedAtTheSameTypeKeepsItsPlaceAndWaitsForTheNewEvent) {
  CompiledJourney j = new_version();
  Migration m = migration_of(StepType::WaitForEvent, step(j, "w"), true, kNow + 500, kNow);
  EXPECT_TRUE(m.moves);
  EXPECT_TRUE(m.keeps_place);
  EXPECT_EQ(m.waiting_for, std::optional<std::string>("clicked"));
  EXPECT_TRUE(m.rearm);
  EXPECT_EQ(m.next_run_at, std::optional<int64_t>(kNow));
  // A wake time already past stays (it is due anyway); none (no timeout) is now.
  EXPECT_EQ(migration_of(StepType::WaitForEvent, step(j, "w"), true, kNow - 5, kNow).next_run_at,
            std::optional<int64_t>(kNow - 5));
  EXPECT_EQ(
      migration_of(StepType::WaitForEvent, step(j, "w"), true, std::nullopt, kNow).next_run_at,
      std::optional<int64_t>(kNow));
}

// Parked at a wait_until or a delay kept as such: re-armed, nothing to wait
// for by event.
TEST(Migration, ParkedAtAWaitUntilOrDelayOfTheSameTypeIsRearmed) {
  CompiledJourney j = new_version();
  for (const char* key : {"u", "d", "at9", "field"}) {
    const CompiledStep* s = step(j, key);
    Migration m = migration_of(s->type, s, true, kNow + 500, kNow);
    EXPECT_TRUE(m.moves) << key;
    EXPECT_TRUE(m.keeps_place) << key;
    EXPECT_EQ(m.waiting_for, std::nullopt) << key;
    EXPECT_TRUE(m.rearm) << key;
    EXPECT_EQ(m.next_run_at, std::optional<int64_t>(kNow)) << key;
  }
}

// Parked at a step whose type changed: its place is cleared, it waits for
// nothing, is not re-armed and enters the new step afresh at the next tick.
TEST(Migration, ParkedAtAnotherTypeEntersTheNewStepAfresh) {
  CompiledJourney j = new_version();
  // A wait for an event that became a delay; a delay that became a wait.
  for (auto [old_type, key] : {std::pair{StepType::WaitForEvent, "d"},
                               std::pair{StepType::Delay, "w"}, std::pair{StepType::Delay, "x"}}) {
    Migration m = migration_of(old_type, step(j, key), true, kNow + 500, kNow);
    EXPECT_TRUE(m.moves) << key;
    EXPECT_FALSE(m.keeps_place) << key;
    EXPECT_EQ(m.waiting_for, std::nullopt) << key;
    EXPECT_FALSE(m.rearm) << key;
    EXPECT_EQ(m.next_run_at, std::optional<int64_t>(kNow)) << key;
  }
}

// Not parked (due to enter or run its step): it moves as it is, due when it was.
TEST(Migration, NotParkedMovesAsItIs) {
  CompiledJourney j = new_version();
  for (auto [old_type, key] : {std::pair{StepType::WaitForEvent, "w"},
                               std::pair{StepType::Delay, "w"}, std::pair{StepType::Delay, "d"}}) {
    Migration m = migration_of(old_type, step(j, key), false, kNow + 500, kNow);
    EXPECT_TRUE(m.moves) << key;
    EXPECT_EQ(m.keeps_place, old_type == step(j, key)->type) << key;
    EXPECT_EQ(m.waiting_for, std::nullopt) << key;
    EXPECT_FALSE(m.rearm) << key;
    EXPECT_EQ(m.next_run_at, std::optional<int64_t>(kNow + 500)) << key;
  }
  EXPECT_EQ(migration_of(StepType::Delay, step(j, "d"), false, std::nullopt, kNow).next_run_at,
            std::nullopt);
}

// Its step's key is gone from the new version: it stays on its version, as it is.
TEST(Migration, KeyGoneStays) {
  CompiledJourney j = new_version();
  for (bool parked : {true, false}) {
    Migration m = migration_of(StepType::WaitForEvent, step(j, "gone"), parked, kNow + 500, kNow);
    EXPECT_FALSE(m.moves);
    EXPECT_FALSE(m.rearm);
    EXPECT_EQ(m.waiting_for, std::nullopt);
    EXPECT_EQ(m.next_run_at, std::optional<int64_t>(kNow + 500));
  }
}

// resume(catch_up => 'skip') re-arms only a parked enrollment at a delay until
// a time of day that fell due during the pause.
TEST(SkipRearm, OnlyAnOverdueParkedDelayUntilATimeOfDay) {
  CompiledJourney j = new_version();
  const CompiledStep& until = *step(j, "at9");
  EXPECT_TRUE(rearms_on_skip(until, true, kNow, kNow));       // due now
  EXPECT_TRUE(rearms_on_skip(until, true, kNow - 1, kNow));   // overdue
  EXPECT_FALSE(rearms_on_skip(until, true, kNow + 1, kNow));  // not due yet
  EXPECT_FALSE(rearms_on_skip(until, true, std::nullopt, kNow));
  EXPECT_FALSE(rearms_on_skip(until, false, kNow - 1, kNow));  // not parked
  // A delay without "until": a duration, a date column; other waits.
  for (const char* key : {"d", "field", "w", "u", "x"})
    EXPECT_FALSE(rearms_on_skip(*step(j, key), true, kNow - 1, kNow)) << key;
}

}  // namespace
}  // namespace PGJ_UNIT_ID
}  // namespace pgj::core
