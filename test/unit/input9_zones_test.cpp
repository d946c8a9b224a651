// attack-9 F14: a customer time zone the server does not know is taken as
// none (policy.hpp customer_zone).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/policy.hpp"

namespace pgj::core {
namespace PGJ_UNIT_ID {
namespace {

// --- F14: a customer time zone that is no zone name --------------------------

TEST(CustomerZone, UnknownZoneIsLikeNone) {
  AudienceSchema a;
  a.columns = {{"id", ValueType::Int, "int"}, {"tz", ValueType::Text, "text"}};
  a.timezone_column = 1;
  auto known = [](const std::string& z) { return z == "Asia/Tokyo" || z == "utc"; };
  auto zone_of = [&](Value v) {
    std::vector<Value> row{int64_t{1}, std::move(v)};
    return customer_zone(a, &row, "America/New_York", known);
  };
  EXPECT_EQ(zone_of(std::string("Asia/Tokyo")), "Asia/Tokyo");
  EXPECT_EQ(zone_of(std::string("utc")), "utc");
  EXPECT_EQ(zone_of(std::string("Mars/Olympus")), "America/New_York");
  EXPECT_EQ(zone_of(std::string("")), "America/New_York");
  EXPECT_EQ(zone_of(std::monostate{}), "America/New_York");
  EXPECT_EQ(customer_zone(a, nullptr, "America/New_York", known), "America/New_York");
  // Without a judge, any name counts (fakes that know every zone).
  std::vector<Value> mars{int64_t{1}, std::string("Mars/Olympus")};
  EXPECT_EQ(customer_zone(a, &mars, "UTC"), "Mars/Olympus");
}

// A clock that knows UTC and Asia/Tokyo (+9).
struct TwoZoneClock : LocalClock {
  std::vector<std::string> asked;
  bool known_zone(const std::string& zone) override {
    return zone == "UTC" || zone == "Asia/Tokyo";
  }
  int offset(const std::string& zone) { return zone == "Asia/Tokyo" ? 9 : 0; }
  int local_seconds_of_day(int64_t ts, const std::string& zone) override {
    asked.push_back(zone);
    return static_cast<int>(((ts / 1'000'000) + offset(zone) * 3600) % 86400);
  }
  int64_t next_local_time(int64_t after, int seconds_of_day, uint8_t,
                          const std::string& zone) override {
    int64_t local = after / 1'000'000 + offset(zone) * 3600;
    int64_t next = local - local % 86400 + seconds_of_day;
    if (next <= local) next += 86400;
    return (next - offset(zone) * 3600) * 1'000'000;
  }
};

TEST(CustomerZone, QuietHoursOfAnUnknownCustomerZoneUseTheJourneys) {
  JourneySettings s;
  s.timezone = "Asia/Tokyo";
  s.quiet_hours = JourneySettings::QuietHours{21 * 3600, 8 * 3600, "customer"};
  AudienceSchema a;
  a.columns = {{"id", ValueType::Int, "int"}, {"tz", ValueType::Text, "text"}};
  a.timezone_column = 1;
  std::vector<Value> mars{int64_t{1}, std::string("Mars/Olympus")};
  TwoZoneClock clock;
  // 13:00 UTC = 22:00 in Tokyo: quiet; released at 08:00 Tokyo = 23:00 UTC
  // (in UTC, the old reading, 13:00 is no quiet time).
  const int64_t now = 13LL * 3600 * 1'000'000;
  Delivery d = decide_delivery(s, a, &mars, false, false, now, clock);
  EXPECT_EQ(clock.asked, std::vector<std::string>{"Asia/Tokyo"});
  EXPECT_EQ(d.send_after, 23LL * 3600 * 1'000'000);
}

}  // namespace
}  // namespace PGJ_UNIT_ID
}  // namespace pgj::core
