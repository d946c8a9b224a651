// attack-9 F12: entity ids (entity.hpp entity_id) and how track refuses a bad
// one (event_rules.hpp invalid_entity).
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/entity.hpp"
#include "core/event_rules.hpp"

namespace pgj::core {
namespace PGJ_UNIT_ID {
namespace {

// --- F12: entity ids ---------------------------------------------------------

TEST(EntityId, IntegerDigitsCanonical) {
  const size_t kMax = 20;
  EXPECT_EQ(integer_digits("42", kMax), "42");
  EXPECT_EQ(integer_digits("42.0", kMax), "42");
  EXPECT_EQ(integer_digits("42.000", kMax), "42");
  EXPECT_EQ(integer_digits("4.2e1", kMax), "42");
  EXPECT_EQ(integer_digits("4200E-2", kMax), "42");
  EXPECT_EQ(integer_digits("1e3", kMax), "1000");
  EXPECT_EQ(integer_digits("-7", kMax), "-7");
  EXPECT_EQ(integer_digits("-0", kMax), "0");
  EXPECT_EQ(integer_digits("0.000", kMax), "0");
  EXPECT_EQ(integer_digits("007", kMax), "7");
  EXPECT_EQ(integer_digits("100", kMax), "100");
  for (const char* fraction : {"1.5", "1.50", "1.500", "0.5", "25e-1", "-0.25", "1e-1"})
    EXPECT_EQ(integer_digits(fraction, kMax), std::nullopt) << fraction;
  for (const char* junk : {"", "-", "1.", ".5", "1e", "1e+", "abc", "1x", "--1"})
    EXPECT_EQ(integer_digits(junk, kMax), std::nullopt) << junk;
  bool too_long = false;
  EXPECT_EQ(integer_digits("1e20", kMax, &too_long), std::nullopt);
  EXPECT_TRUE(too_long);
  EXPECT_EQ(integer_digits("1e19", kMax, &too_long), "1" + std::string(19, '0'));
  EXPECT_FALSE(too_long);
  EXPECT_EQ(integer_digits("-1e19", kMax, &too_long), std::nullopt);
  EXPECT_TRUE(too_long);
  EXPECT_EQ(integer_digits("1e999999999999", kMax, &too_long), std::nullopt);
  EXPECT_TRUE(too_long);
}

TEST(EntityId, StringsAndIntegersOnly) {
  EXPECT_EQ(entity_id("string", "c1").key, "c1");
  EXPECT_EQ(entity_id("string", "1.50").key, "1.50");  // a string is its own key
  EXPECT_EQ(entity_id("string", "").key, "");
  EXPECT_EQ(entity_id("number", "42.0").key, "42");
  EXPECT_EQ(entity_id("number", "42").key, entity_id("string", "42").key);
  for (auto [type, text, problem] : std::vector<std::tuple<const char*, const char*, const char*>>{
           {"number", "1.50", "must be a string or an integer, got 1.50"},
           {"boolean", "true", "must be a string or an integer, got true"},
           {"object", "{\"a\": 1}", "must be a string or an integer, got an object"},
           {"array", "[1]", "must be a string or an integer, got an array"}}) {
    EntityId id = entity_id(type, std::string_view(text));
    EXPECT_FALSE(id.key) << text;
    EXPECT_EQ(id.problem, problem);
  }
  for (const char* none : {"null", ""}) {
    EntityId id = entity_id(none, std::nullopt);
    EXPECT_FALSE(id.key);
    EXPECT_EQ(id.problem, "");
  }
  std::string longest(kMaxEntityIdBytes, 'k');
  EXPECT_EQ(entity_id("string", longest).key, longest);
  EntityId too_long = entity_id("string", longest + "k");
  EXPECT_FALSE(too_long.key);
  EXPECT_EQ(too_long.problem, "is 1025 bytes long; an entity id may have at most 1024 bytes");
  EntityId big = entity_id("number", std::string(1025, '9'));
  EXPECT_FALSE(big.key);
  EXPECT_EQ(big.problem,
            "is an integer of more than 1024 digits; an entity id may have at most 1024 bytes");
  EXPECT_EQ(entity_id("number", std::string(1024, '9')).key, std::string(1024, '9'));
  EXPECT_EQ(entity_id("number", std::string(41, '1') + ".5").problem,
            "must be a string or an integer, got 1111111111111111111111111111111111111...");
}

EventRule named(const char* event) {
  return compile_event_rule(event, Json());
}

// A journey that runs per cart, with the event's cart read as track reads it.
TrackJourney per_cart(const VersionEventRules* rules, const char* type, const char* text) {
  TrackJourney j;
  j.id = 1;
  j.name = "carts";
  j.published = j.live = true;
  j.rules = rules;
  j.entity_property = "cart_id";
  j.event_has_entity = true;
  EntityId id = entity_id(type, std::string_view(text));
  j.event_entity = id.key;
  j.entity_problem = id.problem;
  return j;
}

TEST(EntityId, TrackRefusesABadIdOnlyWhereItConcernsTheJourney) {
  VersionEventRules rules{{named("ab")}, {named("co")}};
  TrackEnrollment cart42;
  cart42.id = 5;
  cart42.rules = &rules;
  cart42.entity_key = "42";
  cart42.waiting_for = "opened";
  std::vector<TrackJourney> journeys;  // outlives the effects (invalid_entity points into it)
  auto effects = [&](const char* event, const char* type, const char* text) {
    journeys = {per_cart(&rules, type, text)};
    return track_effects(event, Json::object(), journeys, {cart42});
  };
  // Entry, exit rule, wait: refused (invalid_entity), nothing decided for it.
  for (const char* event : {"ab", "co", "opened"}) {
    TrackEffects fx = effects(event, "object", "{}");
    ASSERT_NE(fx.invalid_entity, nullptr) << event;
    EXPECT_EQ(fx.invalid_entity->entity_problem, "must be a string or an integer, got an object");
    EXPECT_TRUE(fx.entered.empty() && fx.exits.empty() && fx.wakes.empty()) << event;
  }
  // Another event: not the journey's concern.
  EXPECT_EQ(effects("viewed", "number", "1.5").invalid_entity, nullptr);
  // 42.0 and "42" exit cart 42.
  for (auto [type, text] : {std::pair{"number", "42.0"}, std::pair{"string", "42"}}) {
    TrackEffects fx = effects("co", type, text);
    EXPECT_EQ(fx.invalid_entity, nullptr);
    ASSERT_EQ(fx.exits.size(), 1u) << text;
    EXPECT_EQ(fx.exits[0].enrollment_id, 5);
  }
  EXPECT_TRUE(effects("co", "string", "42.0").exits.empty());
  TrackEffects entered = effects("ab", "number", "7.00");
  ASSERT_EQ(entered.entered.size(), 1u);
  EXPECT_EQ(entered.entered[0].entity, "7");
}

}  // namespace
}  // namespace PGJ_UNIT_ID
}  // namespace pgj::core
