// Issue 9, part 2: decisions PL/pgSQL still made, moved into core (audit-9
// R6-R8): which engagement happens once, which engagement wakes a wait, when a
// date entry trigger is due.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "core/policy.hpp"
#include "core/schedule_rules.hpp"

namespace pgj::core {
namespace PGJ_UNIT_ID {
namespace {

// _message_event_of listed the kinds that happen once to a message and
// compared the bounce type itself; core names the engagement now.
TEST(EngagementOnce, KindsThatHappenOnce) {
  const Json none = Json::object();
  EXPECT_EQ(engagement_once_key("delivered", none), "delivered");
  EXPECT_EQ(engagement_once_key("complained", none), "complained");
  EXPECT_EQ(engagement_once_key("unsubscribed", none), "unsubscribed");
  // The scope of an unsubscribe does not make a second one.
  EXPECT_EQ(engagement_once_key("unsubscribed", Json::parse(R"({"scope": "all"})")),
            "unsubscribed");
  // Opens and clicks are recorded every time.
  EXPECT_EQ(engagement_once_key("opened", none), std::nullopt);
  EXPECT_EQ(engagement_once_key("clicked", Json::parse(R"({"url": "https://x"})")), std::nullopt);
  EXPECT_EQ(engagement_once_key("anything", none), std::nullopt);
}

TEST(EngagementOnce, BounceOfEachTypeOnce) {
  auto key = [](const char* props) {
    return engagement_once_key("bounced", Json::parse(props)).value_or("(each time)");
  };
  EXPECT_EQ(key(R"({})"), "bounced");
  EXPECT_EQ(key(R"({"type": null})"), "bounced");  // as properties->>'type' reads it
  EXPECT_EQ(key(R"({"type": "hard"})"), "bounced:hard");
  EXPECT_EQ(key(R"({"type": "soft"})"), "bounced:soft");
  EXPECT_EQ(key(R"({"type": "soft", "reason": "mailbox full"})"), "bounced:soft");
  EXPECT_NE(key(R"({"type": "hard"})"), key(R"({"type": "soft"})"));
  EXPECT_NE(key(R"({"type": ""})"), key(R"({})"));
  EXPECT_EQ(engagement_once_key("bounced", Json()), "bounced");
}

// _message_event decided in SQL which wait a message's engagement wakes.
TEST(EngagementWakes, OnlyTheLatestVisitsMessageAndAMatchingWait) {
  const std::optional<std::string> opened = "opened";
  EXPECT_TRUE(engagement_wakes("opened", 1, 1, "active", opened));
  EXPECT_TRUE(engagement_wakes("opened", 3, 3, "active", opened));
  // A loop sent the step again: the earlier visit's message wakes nothing.
  EXPECT_FALSE(engagement_wakes("opened", 1, 2, "active", opened));
  // Another wait, no wait, an enrollment no longer active.
  EXPECT_FALSE(engagement_wakes("clicked", 1, 1, "active", opened));
  EXPECT_FALSE(engagement_wakes("opened", 1, 1, "active", std::nullopt));
  EXPECT_FALSE(engagement_wakes("opened", 1, 1, "completed", opened));
  EXPECT_FALSE(engagement_wakes("opened", 1, 1, "exited", opened));
}

// _run_entry_trigger compared a segment's members with its matching keys
// itself (an anti-join); core decides who enters and who leaves.
TEST(SegmentChanges, NewlyMatchingEnterInOrderAndLeaversLeave) {
  SegmentChanges c = segment_changes({"5", "1", "3", "2"}, {"1", "2", "9"});
  EXPECT_EQ(c.entering, (std::vector<std::string>{"5", "3"}));
  EXPECT_EQ(c.leaving, (std::vector<std::string>{"9"}));
  // The first run: every match enters; an empty segment: every member leaves.
  EXPECT_EQ(segment_changes({"b", "a"}, {}).entering, (std::vector<std::string>{"b", "a"}));
  EXPECT_TRUE(segment_changes({"b", "a"}, {}).leaving.empty());
  EXPECT_TRUE(segment_changes({}, {"x"}).entering.empty());
  EXPECT_EQ(segment_changes({}, {"x"}).leaving, (std::vector<std::string>{"x"}));
  // Still matching: nobody enters twice. Keys compare exactly ('007' is not '7').
  EXPECT_TRUE(segment_changes({"1", "2"}, {"2", "1"}).entering.empty());
  EXPECT_EQ(segment_changes({"007"}, {"7"}).entering, (std::vector<std::string>{"007"}));
}

SqlQuoting quote() {
  return {[](const std::string& s) { return "\"" + s + "\""; },
          [](const std::string& s) { return "'" + s + "'"; }};
}

TEST(DateTrigger, CompilesTheConfig) {
  DateTrigger t = compile_date_trigger(
      Json::parse(R"({"type": "date", "schedule": "0 9 * * *", "field": "trial_ends"})"));
  EXPECT_EQ(t.field, "trial_ends");
  EXPECT_EQ(t.offset, Duration{});
  EXPECT_FALSE(t.yearly);
  t = compile_date_trigger(Json::parse(
      R"({"type": "date", "field": "birthday", "offset": "-3 days", "recurring": "yearly"})"));
  EXPECT_EQ(t.offset, (Duration{0, -3, 0}));
  EXPECT_TRUE(t.yearly);
  t = compile_date_trigger(Json::parse(R"({"field": "renews", "offset": "1 month 2 hours"})"));
  EXPECT_EQ(t.offset, (Duration{1, 0, 2 * 3600 * kMicrosPerSecond}));
  for (const char* bad : {R"({})", R"({"field": 3})", R"({"field": "f", "offset": "soon"})",
                          R"({"field": "f", "recurring": "monthly"})", R"([])"}) {
    try {
      compile_date_trigger(Json::parse(bad));
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023") << bad;
    }
  }
}

// The due rule: field + offset in (since, now], since = the last run or (the
// first run) one day before now, in PostgreSQL's calendar arithmetic. The
// calendar cases (leap days, time zones, months) are checked against the
// database in sql/policy9b_date_due.sql with this very SQL.
TEST(DateTrigger, DueOnceBetweenRuns) {
  DateTrigger t{"trial ends", Duration{0, 0, 3600 * kMicrosPerSecond}, false};
  EXPECT_EQ(date_due_sql(t, quote()),
            "(t.\"trial ends\" + '0 mons 0 days 3600000000 microseconds'::interval) > "
            "coalesce($1, $2 - interval '1 day') AND "
            "(t.\"trial ends\" + '0 mons 0 days 3600000000 microseconds'::interval) <= $2");
}

// Yearly: the anniversary in now's year and the years either side (an offset
// may cross New Year), none for ±infinity; make_interval(years) keeps a
// February 29 on February 28 of other years.
TEST(DateTrigger, YearlyAnniversariesOfThreeYears) {
  DateTrigger t{"birthday", Duration{0, -3, 0}, true};
  const std::string due =
      "(CASE WHEN isfinite(t.\"birthday\") THEN t.\"birthday\" + make_interval(years => "
      "(extract(year from $2) - extract(year from t.\"birthday\"))::int + y.k) + "
      "'0 mons -3 days 0 microseconds'::interval END)";
  EXPECT_EQ(date_due_sql(t, quote()), "EXISTS (SELECT 1 FROM (VALUES (-1), (0), (1)) y(k) WHERE " +
                                          due + " > coalesce($1, $2 - interval '1 day') AND " +
                                          due + " <= $2)");
}

}  // namespace
}  // namespace PGJ_UNIT_ID
}  // namespace pgj::core
