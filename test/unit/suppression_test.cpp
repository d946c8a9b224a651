// Issue 9, item G1: the suppression rule, written once in core (policy.hpp):
// which reasons a journey's messages ignore, and which suppression stops a
// message. SQL read it as settings->>'transactional' in five places.
#include <gtest/gtest.h>

#include "core/policy.hpp"

namespace pgj::core {
namespace PGJ_UNIT_ID {
namespace {

using Reasons = std::vector<std::string>;

TEST(Suppression, IgnoredReasonsFromCompiledSettings) {
  JourneySettings plain;
  EXPECT_EQ(ignored_suppression_reasons(plain), Reasons{});
  JourneySettings transactional;
  transactional.transactional = true;
  EXPECT_EQ(ignored_suppression_reasons(transactional), Reasons{"unsubscribed"});
}

TEST(Suppression, IgnoredReasonsFromSettingsObject) {
  EXPECT_EQ(ignored_suppression_reasons_of(Json()), Reasons{});
  EXPECT_EQ(ignored_suppression_reasons_of(Json::object()), Reasons{});
  EXPECT_EQ(ignored_suppression_reasons_of(Json::parse(R"({"transactional": true})")),
            Reasons{"unsubscribed"});
  EXPECT_EQ(ignored_suppression_reasons_of(Json::parse(R"({"transactional": false})")), Reasons{});
  EXPECT_EQ(ignored_suppression_reasons_of(
                Json::parse(R"({"transactional": true, "max_attempts": 3, "reentry": "never"})")),
            Reasons{"unsubscribed"});
  // Settings that do not parse ignore nothing (the safe side: the message is
  // suppressed); the validator refuses them at publish.
  EXPECT_EQ(ignored_suppression_reasons_of(Json::parse(R"({"transactional": "yes"})")), Reasons{});
  EXPECT_EQ(ignored_suppression_reasons_of(Json::parse(R"([true])")), Reasons{});
}

Suppression of(int64_t id, std::optional<std::string> channel, std::string reason, int64_t at) {
  Suppression s;
  s.id = id;
  s.channel = std::move(channel);
  s.reason = std::move(reason);
  s.at = at;
  return s;
}

TEST(Suppression, StopsItsChannelOrEveryChannel) {
  const Reasons none;
  EXPECT_TRUE(suppression_stops(of(1, "email", "manual", 0), "email", none));
  EXPECT_FALSE(suppression_stops(of(1, "sms", "manual", 0), "email", none));
  EXPECT_TRUE(suppression_stops(of(1, std::nullopt, "manual", 0), "email", none));
  EXPECT_TRUE(suppression_stops(of(1, std::nullopt, "bounced", 0), "push", none));
}

TEST(Suppression, IgnoredReasonStopsNothing) {
  const Reasons transactional{"unsubscribed"};
  EXPECT_FALSE(suppression_stops(of(1, "email", "unsubscribed", 0), "email", transactional));
  EXPECT_FALSE(suppression_stops(of(1, std::nullopt, "unsubscribed", 0), "email", transactional));
  EXPECT_TRUE(suppression_stops(of(1, "email", "complained", 0), "email", transactional));
  EXPECT_TRUE(suppression_stops(of(1, "email", "bounced", 0), "email", transactional));
  EXPECT_TRUE(suppression_stops(of(1, "email", "manual", 0), "email", transactional));
  // Reasons are compared exactly.
  EXPECT_TRUE(suppression_stops(of(1, "email", "Unsubscribed", 0), "email", transactional));
  EXPECT_TRUE(suppression_stops(of(1, "email", "unsubscribed", 0), "email", Reasons{}));
}

TEST(Suppression, FirstStoppingEveryChannelThenOldestThenId) {
  const Reasons none;
  const Reasons transactional{"unsubscribed"};
  EXPECT_EQ(stopping_suppression({}, "email", none), std::nullopt);
  // A channel's own suppression loses to an every-channel one, even an older one.
  std::vector<Suppression> list = {of(1, "email", "manual", 10), of(2, std::nullopt, "bounced", 20),
                                   of(3, "sms", "complained", 5)};
  EXPECT_EQ(stopping_suppression(list, "email", none), std::optional<size_t>(1));
  EXPECT_EQ(stopping_suppression(list, "sms", none), std::optional<size_t>(1));
  EXPECT_EQ(stopping_suppression(list, "push", none), std::optional<size_t>(1));
  // Without the every-channel one: the message's channel only.
  list.erase(list.begin() + 1);
  EXPECT_EQ(stopping_suppression(list, "email", none), std::optional<size_t>(0));
  EXPECT_EQ(stopping_suppression(list, "sms", none), std::optional<size_t>(1));
  EXPECT_EQ(stopping_suppression(list, "push", none), std::nullopt);
  // Among every-channel ones: the oldest, then the lowest id.
  std::vector<Suppression> all = {of(7, std::nullopt, "b", 30), of(5, std::nullopt, "c", 30),
                                  of(9, std::nullopt, "a", 40)};
  EXPECT_EQ(stopping_suppression(all, "email", none), std::optional<size_t>(1));
  // An ignored every-channel unsubscribe gives way to the channel's complaint.
  std::vector<Suppression> mixed = {of(1, std::nullopt, "unsubscribed", 1),
                                    of(2, "email", "complained", 2)};
  EXPECT_EQ(stopping_suppression(mixed, "email", transactional), std::optional<size_t>(1));
  EXPECT_EQ(stopping_suppression(mixed, "email", none), std::optional<size_t>(0));
  EXPECT_EQ(stopping_suppression(mixed, "sms", transactional), std::nullopt);
}

}  // namespace
}  // namespace PGJ_UNIT_ID
}  // namespace pgj::core
