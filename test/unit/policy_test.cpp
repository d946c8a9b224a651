// Runtime policies (src/core/policy.hpp): delivery (holdout, quiet hours),
// frequency caps over a batch, retry backoff and max_attempts.
#include "core/policy.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace pgj::core {
namespace PGJ_UNIT_ID {
namespace {

constexpr int64_t kHour = 3'600'000'000;
constexpr int64_t kSecond = 1'000'000;

// A clock with fixed offsets per zone: local = UTC + offset; next_local_time
// finds the next instant at that local time of day (days ignored).
struct FixedClock : LocalClock {
  std::map<std::string, int> offset_hours{{"UTC", 0}, {"Europe/Paris", 1}, {"Asia/Tokyo", 9}};
  std::vector<std::string> zones_asked;
  int local_seconds_of_day(int64_t ts, const std::string& zone) override {
    zones_asked.push_back(zone);
    int64_t local = ts + offset_hours.at(zone) * kHour;
    return static_cast<int>((local / kSecond) % 86400);
  }
  int64_t next_local_time(int64_t after, int seconds_of_day, uint8_t,
                          const std::string& zone) override {
    int64_t local = after + offset_hours.at(zone) * kHour;
    int64_t day_start = local - (local % (86400 * kSecond));
    int64_t candidate = day_start + seconds_of_day * kSecond;
    if (candidate <= local) candidate += 86400 * kSecond;
    return candidate - offset_hours.at(zone) * kHour;
  }
};

JourneySettings quiet_settings(int start_h, int end_h, std::string zone = "") {
  JourneySettings s;
  s.timezone = "Europe/Paris";
  s.quiet_hours = JourneySettings::QuietHours{start_h * 3600, end_h * 3600, std::move(zone)};
  return s;
}

AudienceSchema audience_with_tz() {
  AudienceSchema a;
  a.columns = {{"id", ValueType::Int, "int"}, {"tz", ValueType::Text, "text"}};
  a.timezone_column = 1;
  return a;
}

TEST(QuietWindow, PlainAndWrappingMidnight) {
  JourneySettings::QuietHours day{9 * 3600, 17 * 3600, ""};
  EXPECT_FALSE(in_quiet_window(day, 9 * 3600 - 1));
  EXPECT_TRUE(in_quiet_window(day, 9 * 3600));
  EXPECT_TRUE(in_quiet_window(day, 17 * 3600 - 1));
  EXPECT_FALSE(in_quiet_window(day, 17 * 3600));
  JourneySettings::QuietHours night{21 * 3600, 8 * 3600, ""};
  EXPECT_TRUE(in_quiet_window(night, 23 * 3600));
  EXPECT_TRUE(in_quiet_window(night, 0));
  EXPECT_TRUE(in_quiet_window(night, 8 * 3600 - 1));
  EXPECT_FALSE(in_quiet_window(night, 8 * 3600));
  EXPECT_FALSE(in_quiet_window(night, 12 * 3600));
}

TEST(QuietHoursZone, WindowJourneyOrCustomer) {
  AudienceSchema a = audience_with_tz();
  std::vector<Value> tokyo{int64_t{1}, std::string("Asia/Tokyo")};
  std::vector<Value> no_zone{int64_t{2}, std::monostate{}};
  EXPECT_EQ(quiet_hours_zone(quiet_settings(21, 8), a, &tokyo), "Europe/Paris");
  EXPECT_EQ(quiet_hours_zone(quiet_settings(21, 8, "UTC"), a, &tokyo), "UTC");
  EXPECT_EQ(quiet_hours_zone(quiet_settings(21, 8, "customer"), a, &tokyo), "Asia/Tokyo");
  EXPECT_EQ(quiet_hours_zone(quiet_settings(21, 8, "customer"), a, &no_zone), "Europe/Paris");
  EXPECT_EQ(quiet_hours_zone(quiet_settings(21, 8, "customer"), a, nullptr), "Europe/Paris");
  AudienceSchema without = a;
  without.timezone_column = -1;
  EXPECT_EQ(quiet_hours_zone(quiet_settings(21, 8, "customer"), without, &tokyo), "Europe/Paris");
}

TEST(Delivery, HoldoutIsSuppressedWhateverTheHour) {
  FixedClock clock;
  Delivery d = decide_delivery(quiet_settings(21, 8), audience_with_tz(), nullptr, true, false,
                               22 * kHour, clock);
  EXPECT_TRUE(d.suppressed);
  EXPECT_EQ(d.reason, "holdout");
  EXPECT_EQ(d.send_after, 22 * kHour);
  EXPECT_TRUE(clock.zones_asked.empty());
}

TEST(Delivery, NoRecipientIsSuppressed) {
  FixedClock clock;
  Delivery d = decide_delivery(quiet_settings(21, 8), audience_with_tz(), nullptr, false, true,
                               22 * kHour, clock);
  EXPECT_TRUE(d.suppressed);
  EXPECT_EQ(d.reason, "no_recipient");
  EXPECT_EQ(d.send_after, 22 * kHour);
  EXPECT_TRUE(clock.zones_asked.empty());
}

TEST(Delivery, InsideQuietHoursWaitsForTheEnd) {
  FixedClock clock;
  // 22:30 UTC = 23:30 in Paris: inside 21:00-08:00, released at 08:00 Paris = 07:00 UTC.
  int64_t now = 22 * kHour + kHour / 2;
  Delivery d =
      decide_delivery(quiet_settings(21, 8), audience_with_tz(), nullptr, false, false, now, clock);
  EXPECT_FALSE(d.suppressed);
  EXPECT_EQ(d.reason, "");
  EXPECT_EQ(d.send_after, 24 * kHour + 7 * kHour);
  // 12:00 UTC: outside, delivered now.
  d = decide_delivery(quiet_settings(21, 8), audience_with_tz(), nullptr, false, false, 12 * kHour,
                      clock);
  EXPECT_EQ(d.send_after, 12 * kHour);
  // No quiet hours: now, and no clock lookup.
  FixedClock untouched;
  d = decide_delivery(JourneySettings{}, audience_with_tz(), nullptr, false, false, now, untouched);
  EXPECT_EQ(d.send_after, now);
  EXPECT_TRUE(untouched.zones_asked.empty());
}

TEST(Delivery, CustomerZoneDecides) {
  FixedClock clock;
  std::vector<Value> tokyo{int64_t{1}, std::string("Asia/Tokyo")};
  // 12:00 UTC = 21:00 in Tokyo: inside; released at 08:00 Tokyo = 23:00 UTC.
  Delivery d = decide_delivery(quiet_settings(21, 8, "customer"), audience_with_tz(), &tokyo, false,
                               false, 12 * kHour, clock);
  EXPECT_EQ(clock.zones_asked, std::vector<std::string>{"Asia/Tokyo"});
  EXPECT_EQ(d.send_after, 23 * kHour);
}

TEST(FrequencyCap, CountsEarlierAndThisBatchPerCustomer) {
  EarlierMessages earlier{{{100, "a"}, 1}, {{100, "b"}, 2}};
  std::vector<CappedMessage> batch{
      {"a", true, 100, 2},           // 1 earlier: delivered
      {"a", true, 100, 2},           // 1 earlier + 1 in batch: capped
      {"b", true, 100, 2},           // 2 earlier: capped
      {"c", true, 100, 2},           // none earlier: delivered
      {"c", false, 100, 2},          // already suppressed: counts for nothing
      {"c", true, 100, 2},           // 1 in batch: delivered
      {"a", true, std::nullopt, 0},  // uncapped journey: delivered, counts for a
      {"c", true, 50, 3},            // other window: nothing earlier, 2 in batch: delivered
      {"c", true, 50, 3},            // 3 in batch: capped
  };
  EXPECT_EQ(frequency_capped(batch, earlier),
            (std::vector<bool>{false, true, true, false, false, false, false, false, true}));
}

TEST(Retry, BackoffDoublesFromTenSecondsUpToAnHour) {
  int64_t now = 1000 * kSecond;
  Retry r = charge_failure(0, 5, now);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_FALSE(r.failed);
  EXPECT_EQ(*r.next_run_at, now + 10 * kSecond);
  EXPECT_EQ(*charge_failure(1, 5, now).next_run_at, now + 20 * kSecond);
  EXPECT_EQ(*charge_failure(3, 50, now).next_run_at, now + 80 * kSecond);
  EXPECT_EQ(*charge_failure(8, 50, now).next_run_at, now + 2560 * kSecond);
  EXPECT_EQ(*charge_failure(9, 50, now).next_run_at, now + kHour);
  EXPECT_EQ(*charge_failure(40, 50, now).next_run_at, now + kHour);
}

TEST(Retry, FailedAtMaxAttempts) {
  Retry r = charge_failure(4, 5, 0);
  EXPECT_EQ(r.attempts, 5);
  EXPECT_TRUE(r.failed);
  EXPECT_FALSE(r.next_run_at.has_value());
  EXPECT_TRUE(charge_failure(0, 1, 0).failed);
  EXPECT_FALSE(charge_failure(0, 2, 0).failed);
  EXPECT_TRUE(charge_failure(1, 2, 0).failed);
}

TEST(Retry, MaxAttemptsOfSettings) {
  EXPECT_EQ(max_attempts_of(Json()), kDefaultMaxAttempts);
  EXPECT_EQ(max_attempts_of(Json::object()), 5);
  EXPECT_EQ(max_attempts_of(Json::parse(R"({"max_attempts": 2})")), 2);
  EXPECT_EQ(max_attempts_of(Json::parse(R"({"max_attempts": "x"})")), 5);
  EXPECT_EQ(JourneySettings{}.max_attempts, kDefaultMaxAttempts);
}

}  // namespace
}  // namespace PGJ_UNIT_ID
}  // namespace pgj::core

namespace pgj::core {
namespace PGJ_UNIT_ID {
namespace {

TEST(Retry, TransientIsUnchargedOneSecondLater) {
  EXPECT_EQ(transient_retry_at(5'000'000), 6'000'000);
  EXPECT_EQ(kTransientRetryMicros, 1'000'000);
  // A charged failure waits longer, and counts.
  Retry charged = charge_failure(0, 5, 5'000'000);
  EXPECT_EQ(charged.attempts, 1);
  EXPECT_GT(*charged.next_run_at, transient_retry_at(5'000'000));
}

TEST(Reentry, RuleOfEachPolicy) {
  JourneySettings never;  // the default
  ReentryRule r = reentry_rule(never);
  EXPECT_TRUE(r.any_earlier_blocks);
  EXPECT_FALSE(r.replaces_active);
  EXPECT_FALSE(r.cooldown.has_value());

  r = reentry_rule(parse_settings(Json::parse(R"({"reentry": "after_exit"})")));
  EXPECT_FALSE(r.any_earlier_blocks);
  EXPECT_FALSE(r.replaces_active);

  r = reentry_rule(
      parse_settings(Json::parse(R"({"reentry": "always", "reentry_cooldown": "7 days"})")));
  EXPECT_FALSE(r.any_earlier_blocks);
  EXPECT_TRUE(r.replaces_active);
  ASSERT_TRUE(r.cooldown.has_value());
  EXPECT_EQ(r.cooldown->days, 7);
  EXPECT_EQ(r.cooldown->months, 0);
  EXPECT_EQ(r.cooldown->micros, 0);
  EXPECT_EQ(r.cooldown->to_interval_text(), (Duration{0, 7, 0}.to_interval_text()));
}

// Eligibility of a customer enrolled again, per policy, with and without a
// cooldown (entered_at in microseconds; the cooldown starts at 100).
TEST(Reentry, VerdictOfEachPolicyAndCooldown) {
  const ReentryRule never = reentry_rule(JourneySettings{});
  ReentryRule after_exit = never;
  after_exit.any_earlier_blocks = false;
  ReentryRule always = after_exit;
  always.replaces_active = true;
  const std::vector<EarlierEnrollment> none;
  const std::vector<EarlierEnrollment> exited_long_ago = {{5, false, 10}};
  const std::vector<EarlierEnrollment> exited_lately = {{5, false, 150}};
  const std::vector<EarlierEnrollment> active_long_ago = {{9, true, 50}, {5, false, 10}};
  const std::vector<EarlierEnrollment> active_lately = {{9, true, 150}};
  auto verdict = [](const ReentryRule& r, const std::vector<EarlierEnrollment>& e,
                    std::optional<int64_t> since) {
    ReentryVerdict v = reentry_verdict(r, e, since);
    return std::make_pair(v.enroll, v.replace);
  };
  using V = std::pair<bool, std::vector<int64_t>>;
  const V enroll{true, {}}, kept_out{false, {}}, replaced{true, {9}};
  for (std::optional<int64_t> since : {std::optional<int64_t>(), std::optional<int64_t>(100)}) {
    EXPECT_EQ(verdict(never, none, since), enroll);
    EXPECT_EQ(verdict(after_exit, none, since), enroll);
    EXPECT_EQ(verdict(always, none, since), enroll);
    // never: any earlier enrollment keeps the customer out.
    EXPECT_EQ(verdict(never, exited_long_ago, since), kept_out);
    EXPECT_EQ(verdict(never, active_long_ago, since), kept_out);
    // after_exit: only an active one (or one inside the cooldown).
    EXPECT_EQ(verdict(after_exit, exited_long_ago, since), enroll);
    EXPECT_EQ(verdict(after_exit, active_long_ago, since), kept_out);
    // always: the active one is replaced, outside the cooldown.
    EXPECT_EQ(verdict(always, exited_long_ago, since), enroll);
    EXPECT_EQ(verdict(always, active_long_ago, since), replaced);
  }
  // Inside the cooldown: kept out whatever the policy, and not replaced.
  EXPECT_EQ(verdict(after_exit, exited_lately, 100), kept_out);
  EXPECT_EQ(verdict(always, exited_lately, 100), kept_out);
  EXPECT_EQ(verdict(always, active_lately, 100), kept_out);
  EXPECT_EQ(verdict(always, exited_lately, std::nullopt), enroll);
  EXPECT_EQ(verdict(always, active_lately, std::nullopt), replaced);
  // Entered exactly at the cooldown's start: outside it.
  EXPECT_EQ(verdict(always, {{9, true, 100}}, 100), replaced);
  // The active one is replaced even when another keeps the customer out.
  EXPECT_EQ(verdict(always, {{9, true, 50}, {12, false, 150}}, 100), (V{false, {9}}));
  // Row by row (what _enroll_rows and _enroll_customer apply): a replaced one
  // does not block; one inside the cooldown blocks and is not replaced.
  const EarlierEnrollment old_active{9, true, 50}, new_active{9, true, 150};
  EXPECT_TRUE(reentry_replaces(always, old_active, 100));
  EXPECT_FALSE(reentry_blocks(always, old_active, 100));
  EXPECT_FALSE(reentry_replaces(always, new_active, 100));
  EXPECT_TRUE(reentry_blocks(always, new_active, 100));
  EXPECT_FALSE(reentry_replaces(after_exit, old_active, 100));
  EXPECT_TRUE(reentry_blocks(after_exit, old_active, 100));
  EXPECT_FALSE(reentry_blocks(after_exit, {5, false, 50}, 100));
  EXPECT_TRUE(reentry_blocks(never, {5, false, 50}, std::nullopt));
}

}  // namespace
}  // namespace PGJ_UNIT_ID
}  // namespace pgj::core
