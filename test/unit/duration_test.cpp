// Tests for durations, times of day, weekdays, timestamps and cron schedules.
#include <gtest/gtest.h>

#include "core/duration.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

// Parses text that must be valid.
Duration D(const char* text) {
  std::string err;
  auto d = parse_duration(text, &err);
  EXPECT_TRUE(d.has_value()) << text << ": " << err;
  return d.value_or(Duration{});
}

// Parses text that must be invalid and returns the message.
std::string DErr(const char* text) {
  std::string err;
  auto d = parse_duration(text, &err);
  EXPECT_FALSE(d.has_value()) << text;
  return err;
}

constexpr int64_t kSec = 1000000;

}  // namespace

TEST(Duration, SingleParts) {
  EXPECT_EQ(D("2 days"), (Duration{0, 2, 0}));
  EXPECT_EQ(D("1 day"), (Duration{0, 1, 0}));
  EXPECT_EQ(D("90 minutes"), (Duration{0, 0, 90 * 60 * kSec}));
  EXPECT_EQ(D("30m"), (Duration{0, 0, 30 * 60 * kSec}));
  EXPECT_EQ(D("45s"), (Duration{0, 0, 45 * kSec}));
  EXPECT_EQ(D("3h"), (Duration{0, 0, 3 * 3600 * kSec}));
  EXPECT_EQ(D("2w"), (Duration{0, 14, 0}));
  EXPECT_EQ(D("1 mon"), (Duration{1, 0, 0}));
  EXPECT_EQ(D("2y"), (Duration{24, 0, 0}));
}

TEST(Duration, EveryUnitSpelling) {
  for (const char* u : {"s", "sec", "secs", "second", "seconds"})
    EXPECT_EQ(D((std::string("2 ") + u).c_str()), (Duration{0, 0, 2 * kSec})) << u;
  for (const char* u : {"m", "min", "mins", "minute", "minutes"})
    EXPECT_EQ(D((std::string("2 ") + u).c_str()), (Duration{0, 0, 120 * kSec})) << u;
  for (const char* u : {"h", "hr", "hrs", "hour", "hours"})
    EXPECT_EQ(D((std::string("2 ") + u).c_str()), (Duration{0, 0, 7200 * kSec})) << u;
  for (const char* u : {"d", "day", "days"})
    EXPECT_EQ(D((std::string("2 ") + u).c_str()), (Duration{0, 2, 0})) << u;
  for (const char* u : {"w", "week", "weeks"})
    EXPECT_EQ(D((std::string("2 ") + u).c_str()), (Duration{0, 14, 0})) << u;
  for (const char* u : {"mon", "month", "months"})
    EXPECT_EQ(D((std::string("2 ") + u).c_str()), (Duration{2, 0, 0})) << u;
  for (const char* u : {"y", "year", "years"})
    EXPECT_EQ(D((std::string("2 ") + u).c_str()), (Duration{24, 0, 0})) << u;
}

TEST(Duration, CaseInsensitiveAndWhitespace) {
  EXPECT_EQ(D("2 DAYS"), (Duration{0, 2, 0}));
  EXPECT_EQ(D("  1 Hour  "), (Duration{0, 0, 3600 * kSec}));
  EXPECT_EQ(D("5Min"), (Duration{0, 0, 300 * kSec}));
}

TEST(Duration, MultipleParts) {
  EXPECT_EQ(D("1 day 2 hours"), (Duration{0, 1, 2 * 3600 * kSec}));
  EXPECT_EQ(D("1 year 2 months 3 weeks 4 days 5 hours 6 minutes 7 seconds"),
            (Duration{14, 25, (5 * 3600 + 6 * 60 + 7) * kSec}));
  EXPECT_EQ(D("1h30m"), (Duration{0, 0, 90 * 60 * kSec}));
}

TEST(Duration, Negative) {
  EXPECT_EQ(D("-1 day"), (Duration{0, -1, 0}));
  EXPECT_EQ(D("- 1 day 2 hours"), (Duration{0, -1, -2 * 3600 * kSec}));
  EXPECT_FALSE(D("-1 day").is_positive());
}

TEST(Duration, IsPositive) {
  EXPECT_TRUE(D("1 second").is_positive());
  EXPECT_FALSE(D("0 days").is_positive());
  EXPECT_FALSE((Duration{1, -1, 0}).is_positive());
  EXPECT_FALSE(Duration{}.is_positive());
}

TEST(Duration, ApproxMicros) {
  EXPECT_EQ(D("1 month").approx_micros(), 30 * kMicrosPerDay);
  EXPECT_EQ(D("1 day 1 second").approx_micros(), kMicrosPerDay + kSec);
}

TEST(Duration, Errors) {
  EXPECT_EQ(DErr("3 fortnights"), "invalid duration \"3 fortnights\": unknown unit \"fortnights\"");
  EXPECT_NE(DErr("").find("empty"), std::string::npos);
  EXPECT_NE(DErr("   ").find("empty"), std::string::npos);
  EXPECT_NE(DErr("days").find("expected a number"), std::string::npos);
  EXPECT_NE(DErr("2").find("missing unit"), std::string::npos);
  EXPECT_NE(DErr("2 days 3").find("missing unit"), std::string::npos);
  EXPECT_NE(DErr("1.5 days").find("invalid duration \"1.5 days\""), std::string::npos);
  EXPECT_NE(DErr("-").find("missing number"), std::string::npos);
  EXPECT_NE(DErr("--1 day").find("invalid duration"), std::string::npos);
  EXPECT_NE(DErr("2 days!").find("unknown unit \"days!\""), std::string::npos);
  EXPECT_NE(DErr("99999999999999999999 seconds").find("out of range"), std::string::npos);
  EXPECT_NE(DErr("9999999999 days").find("out of range"), std::string::npos);
  EXPECT_NE(DErr("3000000000 years").find("out of range"), std::string::npos);
  EXPECT_NE(DErr("9223372036854775807 hours").find("out of range"), std::string::npos);
  EXPECT_FALSE(parse_duration("x", nullptr).has_value());  // null error pointer is fine
}

// Found by fuzzing: the message quoted one byte of a multibyte character,
// which made it invalid UTF-8 (PostgreSQL returns it as text).
TEST(Duration, ErrorKeepsMultibyteCharacterWhole) {
  EXPECT_EQ(DErr("3 \xc3\xa9"), "invalid duration \"3 \xc3\xa9\": unexpected \"\xc3\xa9\"");
  EXPECT_EQ(DErr("2\xce\x8b-15:59"),
            "invalid duration \"2\xce\x8b-15:59\": unexpected \"\xce\x8b\"");
  EXPECT_EQ(DErr("3 !"), "invalid duration \"3 !\": unexpected \"!\"");
}

TEST(Duration, IntervalText) {
  EXPECT_EQ(D("1 month 2 days 1 second").to_interval_text(), "1 mons 2 days 1000000 microseconds");
}

TEST(TimeOfDay, Valid) {
  std::string err;
  EXPECT_EQ(parse_time_of_day("00:00", &err), 0);
  EXPECT_EQ(parse_time_of_day("09:30", &err), 9 * 3600 + 30 * 60);
  EXPECT_EQ(parse_time_of_day("9:30", &err), 9 * 3600 + 30 * 60);
  EXPECT_EQ(parse_time_of_day("23:59:59", &err), 86399);
}

TEST(TimeOfDay, Invalid) {
  for (const char* t :
       {"24:00", "12:60", "12:00:60", "1200", "12:0", "noon", "", "12:00:", "12:00x", "-1:00"}) {
    std::string err;
    EXPECT_FALSE(parse_time_of_day(t, &err).has_value()) << t;
    EXPECT_NE(err.find("invalid time of day"), std::string::npos) << t;
  }
}

TEST(Weekday, Names) {
  EXPECT_EQ(parse_weekday("mon"), 1);
  EXPECT_EQ(parse_weekday("Tue"), 2);
  EXPECT_EQ(parse_weekday("WEDNESDAY"), 3);
  EXPECT_EQ(parse_weekday("thu"), 4);
  EXPECT_EQ(parse_weekday("friday"), 5);
  EXPECT_EQ(parse_weekday("sat"), 6);
  EXPECT_EQ(parse_weekday("sunday"), 7);
  EXPECT_FALSE(parse_weekday("mo").has_value());
  EXPECT_FALSE(parse_weekday("").has_value());
  EXPECT_FALSE(parse_weekday("funday").has_value());
}

TEST(Timestamp, Forms) {
  std::string err;
  EXPECT_EQ(parse_timestamp("1970-01-01", &err), 0);
  EXPECT_EQ(parse_timestamp("1970-01-02", &err), kMicrosPerDay);
  EXPECT_EQ(parse_timestamp("2024-01-31T09:00:00Z", &err), 1706691600LL * kSec);
  EXPECT_EQ(parse_timestamp("2024-01-31 09:00", &err), 1706691600LL * kSec);
  EXPECT_EQ(parse_timestamp("2024-01-31T10:00:00+01:00", &err), 1706691600LL * kSec);
  EXPECT_EQ(parse_timestamp("2024-01-31T04:30:00-0430", &err), 1706691600LL * kSec);
  EXPECT_EQ(parse_timestamp("2024-01-31T11:00+02", &err), 1706691600LL * kSec);
  EXPECT_EQ(parse_timestamp("2024-01-31T09:00:00.5Z", &err), 1706691600LL * kSec + 500000);
  EXPECT_EQ(parse_timestamp("2024-01-31T09:00:00.1234567", &err), 1706691600LL * kSec + 123456);
  EXPECT_EQ(parse_timestamp("1969-12-31T23:59:59Z", &err), -kSec);
  EXPECT_EQ(parse_timestamp("2024-02-29", &err), 1709164800LL * kSec);
}

TEST(Timestamp, Invalid) {
  for (const char* t :
       {"2024-02-30", "2023-02-29", "2024-13-01", "2024-1-01", "24-01-01", "2024-01-01T25:00",
        "2024-01-01T10", "2024-01-01 10:00 UTC", "yesterday", "", "2024-01-01T10:00:00."}) {
    std::string err;
    EXPECT_FALSE(parse_timestamp(t, &err).has_value()) << t;
    EXPECT_NE(err.find("invalid timestamp"), std::string::npos) << t;
  }
}

TEST(Timestamp, FormatRoundTrip) {
  EXPECT_EQ(format_timestamp(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_timestamp(1706691600LL * kSec + 5), "2024-01-31T09:00:00.000005Z");
  EXPECT_EQ(format_timestamp(-kSec), "1969-12-31T23:59:59Z");
  EXPECT_EQ(parse_timestamp(format_timestamp(1234567890123456LL), nullptr), 1234567890123456LL);
}

TEST(Cron, Valid) {
  for (const char* c : {"* * * * *",
                        "0 9 * * *",
                        "*/15 * * * *",
                        "0 9 * * 1-5",
                        "0 9 * * mon-fri",
                        "0 0 1 jan *",
                        "0,30 8-18/2 1,15 1-12 0-7",
                        "5 4 * * sun",
                        "0 0 $ * *",
                        "0 12 * JAN,Jul SAT",
                        "@yearly",
                        "@annually",
                        "@monthly",
                        "@weekly",
                        "@daily",
                        "@midnight",
                        "@hourly",
                        "30 seconds",
                        "1 second",
                        "59 seconds",
                        "  0 9 * * *  ",
                        "7/10 * * * *"}) {
    std::string err;
    EXPECT_TRUE(is_valid_cron(c, &err)) << c << ": " << err;
  }
}

TEST(Cron, Invalid) {
  for (const char* c : {"",
                        "* * * *",
                        "* * * * * *",
                        "60 * * * *",
                        "* 24 * * *",
                        "* * 0 * *",
                        "* * 32 * *",
                        "* * * 13 *",
                        "* * * * 8",
                        "5-1 * * * *",
                        "*/0 * * * *",
                        "a * * * *",
                        "* * * foo *",
                        "1,,2 * * * *",
                        "@often",
                        "0 seconds",
                        "60 seconds",
                        "30 minutes",
                        "* * * * mon-",
                        "$ * * * *"}) {
    std::string err;
    EXPECT_FALSE(is_valid_cron(c, &err)) << c;
    EXPECT_NE(err.find("invalid schedule"), std::string::npos) << c;
  }
}

}  // namespace PGJ_UNIT_ID
