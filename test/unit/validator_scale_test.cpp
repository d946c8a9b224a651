// Validation of a very large journey stays linear in its number of steps. The
// cycle search once allocated (and filled) an array of all steps for every
// step: 200,000 steps took 7 s, and memory traffic grew with the square of the
// step count. Counted here deterministically: the bytes the validator asks
// for, per step, whatever the journey's size.
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>

#include "core/validator.hpp"
#include "fixtures.hpp"

namespace {
// Bytes requested through operator new while counting is on.
bool counting = false;
size_t requested = 0;
}  // namespace

// GCC takes free() of what this operator new returns for a mismatch.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  if (counting) requested += size;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
#pragma GCC diagnostic pop

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

// n steps in a chain: a delay every 50th step (so no chain of instant steps is
// long), a condition every 7th (both branches to the next step), goals between.
Json big_journey(int n) {
  Json steps = Json::array();
  for (int i = 1; i <= n; ++i) {
    std::string key = "s" + std::to_string(i);
    std::string next = "s" + std::to_string(i + 1);
    Json step;
    if (i % 50 == 0) {
      step = {{"key", key}, {"type", "delay"}, {"duration", "1 hour"}};
    } else if (i % 7 == 0) {
      step = {{"key", key}, {"type", "condition"}, {"if", {{"field", "email"}, {"op", "exists"}}}};
      if (i < n) step["branches"] = {{"yes", next}, {"no", next}};
    } else {
      step = {{"key", key}, {"type", "goal"}};
    }
    if (i < n && !step.contains("branches")) step["next"] = next;
    steps.push_back(step);
  }
  // max_step_visits above n: a path longer than it is a warning (every
  // enrollment on it would fail), and this journey is meant to be valid.
  return {{"name", "big"},
          {"audience", "public.customers"},
          {"start", "s1"},
          {"settings", {{"max_step_visits", 100000}}},
          {"entry", Json::array({{{"type", "manual"}}})},
          {"steps", steps}};
}

// Bytes validate_journey requests for a journey of n steps.
size_t bytes_to_validate(int n) {
  AudienceSchema schema = pgj::unit::audience_schema("public.customers");
  schema.columns = {{"id", ValueType::Int, "bigint"}, {"email", ValueType::Text, "text"}};
  ValidationEnv env;
  env.audience = &schema;
  Json def = big_journey(n);
  requested = 0;
  counting = true;
  auto issues = validate_journey(def, env);
  counting = false;
  for (const Issue& issue : issues) ADD_FAILURE() << issue.step_key << ": " << issue.message;
  return requested;
}

TEST(ValidateScale, MemoryPerStepDoesNotGrowWithTheJourney) {
  size_t small = bytes_to_validate(1000);
  size_t large = bytes_to_validate(20000);
  // 20 times the steps: about 20 times the bytes (hash tables grow in steps,
  // so allow 30); quadratic work would ask for about 400 times.
  EXPECT_LT(large, small * 30) << "1,000 steps: " << small << " bytes, 20,000 steps: " << large;
}

}  // namespace

}  // namespace PGJ_UNIT_ID
