// Issue 9, audit 11f: a claim decides the suppressions of its whole batch at
// once (core::stopping_reasons), with the rule of core::stopping_suppression per
// message among the suppressions of its own customer in its own audience.
#include <gtest/gtest.h>

#include "core/policy.hpp"

namespace pgj::core {
namespace PGJ_UNIT_ID {
namespace {

using Reasons = std::vector<std::string>;
using Stops = std::vector<std::optional<std::string>>;

CustomerSuppression of(const std::string& customer, int64_t audience, int64_t id,
                       std::optional<std::string> channel, const std::string& reason, int64_t at) {
  CustomerSuppression s;
  s.customer = customer;
  s.audience = audience;
  s.suppression.id = id;
  s.suppression.channel = std::move(channel);
  s.suppression.reason = reason;
  s.suppression.at = at;
  return s;
}

MessageToCheck message(const std::string& customer, int64_t audience, const std::string& channel,
                       Reasons ignored = {}) {
  return MessageToCheck{customer, audience, channel, std::move(ignored)};
}

TEST(ClaimStops, EmptyBatchesAndNoSuppressions) {
  EXPECT_EQ(stopping_reasons({}, {of("1", 1, 1, std::nullopt, "manual", 0)}), Stops{});
  EXPECT_EQ(stopping_reasons({message("1", 1, "email"), message("2", 1, "email")}, {}),
            (Stops{std::nullopt, std::nullopt}));
}

TEST(ClaimStops, OnlyTheCustomersOwnSuppressionsInItsAudience) {
  const std::vector<CustomerSuppression> found = {
      of("1", 1, 10, "email", "unsubscribed", 5),
      of("2", 2, 11, std::nullopt, "bounced", 6),  // customer 2 of audience 2 only
      of("3", 1, 12, "sms", "complained", 7),      // another channel
  };
  EXPECT_EQ(
      stopping_reasons(
          {message("1", 1, "email"), message("2", 1, "email"), message("2", 2, "email"),
           message("3", 1, "email"), message("3", 1, "sms"), message("1", 2, "email")},
          found),
      (Stops{"unsubscribed", std::nullopt, "bounced", std::nullopt, "complained", std::nullopt}));
}

TEST(ClaimStops, PerMessageIgnoredReasonsAndStoppingSuppressionsOrder) {
  // The suppressions of one customer, read in any order, interleaved with others'.
  const std::vector<CustomerSuppression> found = {
      of("7", 1, 3, "email", "complained", 20),
      of("8", 1, 4, std::nullopt, "manual", 1),
      of("7", 1, 2, std::nullopt, "unsubscribed", 30),
      of("7", 1, 1, "email", "manual", 10),
  };
  const Reasons transactional{"unsubscribed"};
  // Same customer, two journeys: the plain one records the every-channel
  // unsubscribe, the transactional one the oldest of its channel's (manual).
  EXPECT_EQ(stopping_reasons({message("7", 1, "email"), message("7", 1, "email", transactional),
                              message("7", 1, "sms", transactional), message("8", 1, "push")},
                             found),
            (Stops{"unsubscribed", "manual", std::nullopt, "manual"}));
  // As stopping_suppression decides for each message alone.
  std::vector<Suppression> of7;
  for (const CustomerSuppression& s : found)
    if (s.customer == "7") of7.push_back(s.suppression);
  EXPECT_EQ(of7[*stopping_suppression(of7, "email", transactional)].reason, "manual");
}

}  // namespace
}  // namespace PGJ_UNIT_ID
}  // namespace pgj::core
