// track()'s decisions (src/core/event_rules.hpp): which journeys an event
// enters, which enrollments its event exit rules end, which it wakes, and the
// entity matching of journeys that run one enrollment per entity.
#include "core/event_rules.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.hpp"

namespace pgj::core {
namespace PGJ_UNIT_ID {
namespace {

EventRule rule(const char* event, const char* where = "null", const char* reason = "",
               bool goal = false) {
  EventRule r = compile_event_rule(event, Json::parse(where));
  r.reason = reason;
  r.is_goal = goal;
  return r;
}

const Json kBigCart = Json::parse(R"({"total": 20, "cart_id": "c1"})");

TrackJourney journey(int64_t id, const VersionEventRules* rules, bool published = true) {
  TrackJourney j;
  j.id = id;
  j.name = "j" + std::to_string(id);
  j.published = published;
  j.live = true;
  j.rules = published ? rules : nullptr;
  return j;
}

// A journey that runs per cart, with what the event says of the cart.
TrackJourney per_cart(int64_t id, const VersionEventRules* rules, const Json& props) {
  TrackJourney j = journey(id, rules);
  j.entity_property = "cart_id";
  j.event_has_entity = props.contains("cart_id");
  if (j.event_has_entity && !props["cart_id"].is_null())
    j.event_entity = props["cart_id"].is_string() ? props["cart_id"].get<std::string>()
                                                  : props["cart_id"].dump();
  return j;
}

TrackEnrollment enrollment(int64_t id, size_t journey, const VersionEventRules* rules,
                           const char* waiting_for = "",
                           std::optional<std::string> entity = std::nullopt) {
  TrackEnrollment e;
  e.id = id;
  e.journey = journey;
  e.rules = rules;
  e.waiting_for = waiting_for;
  e.entity_key = std::move(entity);
  return e;
}

TEST(EventRules, MatchesByNameThenWhere) {
  EventRule any = rule("bought");
  EventRule big = rule("bought", R"({"field": "event.total", "op": "gt", "value": 10})");
  EXPECT_TRUE(event_matches(any, "bought", Json::object()));
  EXPECT_FALSE(event_matches(any, "viewed", kBigCart));
  EXPECT_TRUE(event_matches(big, "bought", kBigCart));
  EXPECT_FALSE(event_matches(big, "bought", Json::parse(R"({"total": 5})")));
  EXPECT_FALSE(event_matches(big, "bought", Json::object()));
}

TEST(EventRules, InvalidWhereRaisesOnlyForItsEvent) {
  EventRule bad = rule("bought", R"({"field": "plan", "op": "eq", "value": 1})");
  ASSERT_FALSE(bad.invalid.empty());
  EXPECT_FALSE(event_matches(bad, "viewed", kBigCart));
  try {
    event_matches(bad, "bought", kBigCart);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_EQ(std::string(e.what()).rfind("invalid event condition: ", 0), 0u) << e.what();
  }
}

TEST(TrackEffects, EntersPublishedJourneysWhoseTriggerMatchesInIdOrder) {
  VersionEventRules takes_big{
      {rule("bought", R"({"field": "event.total", "op": "gte", "value": 20})")}, {}};
  VersionEventRules takes_small{
      {rule("bought", R"({"field": "event.total", "op": "lt", "value": 20})")}, {}};
  VersionEventRules other{{rule("viewed"), rule("bought")}, {}};
  std::vector<TrackJourney> journeys = {journey(9, &other), journey(3, &takes_big),
                                        journey(5, &takes_small), journey(4, &other, false)};
  TrackEffects fx = track_effects("bought", kBigCart, journeys, {});
  ASSERT_EQ(fx.entered.size(), 2u);
  EXPECT_EQ(fx.entered[0].journey_id, 3);
  EXPECT_EQ(fx.entered[1].journey_id, 9);
  EXPECT_FALSE(fx.entered[0].entity);
  EXPECT_EQ(fx.missing_entity, nullptr);
  EXPECT_TRUE(fx.exits.empty());
  EXPECT_TRUE(fx.wakes.empty());
}

TEST(TrackEffects, EntryPerEntityNeedsTheEntity) {
  VersionEventRules entry{{rule("cart_left")}, {}};
  Json with = Json::parse(R"({"cart_id": "c9"})");
  std::vector<TrackJourney> journeys = {per_cart(2, &entry, with)};
  TrackEffects fx = track_effects("cart_left", with, journeys, {});
  ASSERT_EQ(fx.entered.size(), 1u);
  EXPECT_EQ(fx.entered[0].entity, "c9");
  EXPECT_EQ(fx.missing_entity, nullptr);

  for (const char* props : {R"({"total": 1})", R"({"cart_id": null})"}) {
    Json without = Json::parse(props);
    std::vector<TrackJourney> js = {journey(1, &entry), per_cart(2, &entry, without),
                                    per_cart(3, &entry, without)};
    TrackEffects missing = track_effects("cart_left", without, js, {});
    ASSERT_NE(missing.missing_entity, nullptr) << props;
    EXPECT_EQ(missing.missing_entity->id, 2) << props;  // the first, by id
  }
}

TEST(TrackEffects, FirstMatchingExitRuleOfLiveJourneysEndsTheEnrollment) {
  VersionEventRules exits{
      {},
      {rule("bought", R"({"field": "event.total", "op": "gt", "value": 100})", "big spender", true),
       rule("bought", "null", "exit rule exit[1]", false),
       rule("bought", "null", "never reached", true)}};
  VersionEventRules none;
  std::vector<TrackJourney> journeys = {journey(1, &none), journey(2, &none, false)};
  journeys[1].live = false;  // archived: its rules do not apply
  std::vector<TrackEnrollment> enrollments = {enrollment(12, 0, &exits), enrollment(11, 0, &none),
                                              enrollment(13, 1, &exits)};
  TrackEffects fx = track_effects("bought", kBigCart, journeys, enrollments);
  ASSERT_EQ(fx.exits.size(), 1u);
  EXPECT_EQ(fx.exits[0].enrollment_id, 12);
  EXPECT_EQ(fx.exits[0].reason, "exit rule exit[1]");
  EXPECT_FALSE(fx.exits[0].is_goal);

  TrackEffects big =
      track_effects("bought", Json::parse(R"({"total": 500})"), journeys, enrollments);
  ASSERT_EQ(big.exits.size(), 1u);
  EXPECT_EQ(big.exits[0].reason, "big spender");
  EXPECT_TRUE(big.exits[0].is_goal);
  EXPECT_TRUE(track_effects("viewed", kBigCart, journeys, enrollments).exits.empty());
}

TEST(TrackEffects, WakesEnrollmentsWaitingForTheEventInAnyJourneyState) {
  VersionEventRules none;
  std::vector<TrackJourney> journeys = {journey(1, &none), journey(2, &none, false)};
  journeys[1].live = false;
  std::vector<TrackEnrollment> enrollments = {
      enrollment(21, 0, &none, "opened"), enrollment(20, 1, &none, "opened"),
      enrollment(22, 0, &none, "clicked"), enrollment(23, 0, &none)};
  TrackEffects fx = track_effects("opened", Json::object(), journeys, enrollments);
  EXPECT_EQ(fx.wakes, (std::vector<int64_t>{20, 21}));
}

TEST(TrackEffects, BackdatedEventWakesNothing) {
  VersionEventRules exits{{}, {rule("paid", "null", "paid")}};
  std::vector<TrackJourney> journeys = {journey(1, &exits)};
  std::vector<TrackEnrollment> enrollments = {enrollment(41, 0, &exits, "paid"),
                                              enrollment(42, 0, &exits, "paid")};
  enrollments[0].entered_at = 1000;
  enrollments[1].entered_at = 2000;
  // Occurred between the two entries: only the enrollment that entered before
  // it is woken (and ended); one at the very time of the entry counts.
  TrackEffects fx = track_effects("paid", Json::object(), journeys, enrollments, 1500);
  EXPECT_EQ(fx.wakes, (std::vector<int64_t>{41}));
  ASSERT_EQ(fx.exits.size(), 1u);
  EXPECT_EQ(fx.exits[0].enrollment_id, 41);
  EXPECT_EQ(track_effects("paid", Json::object(), journeys, enrollments, 2000).wakes,
            (std::vector<int64_t>{41, 42}));
  EXPECT_TRUE(track_effects("paid", Json::object(), journeys, enrollments, 999).wakes.empty());
}

TEST(TrackEffects, PerEntityJourneysConcernOnlyTheEventsEntity) {
  VersionEventRules exits{{}, {rule("paid", "null", "paid")}};
  auto effects = [&](const char* props) {
    Json p = Json::parse(props);
    std::vector<TrackJourney> journeys = {per_cart(1, &exits, p)};
    std::vector<TrackEnrollment> enrollments = {
        enrollment(31, 0, &exits, "paid", std::string("c1")),
        enrollment(32, 0, &exits, "paid", std::string("c2")),
        enrollment(33, 0, &exits, "paid", std::nullopt)};
    return track_effects("paid", p, journeys, enrollments);
  };
  auto ids = [](const TrackEffects& fx) {
    std::vector<int64_t> out;
    for (const auto& x : fx.exits) out.push_back(x.enrollment_id);
    return out;
  };
  // The event names cart c1: only that enrollment.
  TrackEffects c1 = effects(R"({"cart_id": "c1"})");
  EXPECT_EQ(ids(c1), (std::vector<int64_t>{31}));
  EXPECT_EQ(c1.wakes, (std::vector<int64_t>{31}));
  // No cart named: every enrollment of the customer.
  TrackEffects all = effects(R"({"total": 1})");
  EXPECT_EQ(ids(all), (std::vector<int64_t>{31, 32, 33}));
  EXPECT_EQ(all.wakes, (std::vector<int64_t>{31, 32, 33}));
  // The key with a null value names no cart either, but matches none.
  TrackEffects null_cart = effects(R"({"cart_id": null})");
  EXPECT_TRUE(null_cart.exits.empty());
  EXPECT_TRUE(null_cart.wakes.empty());
}

}  // namespace
}  // namespace PGJ_UNIT_ID
}  // namespace pgj::core
