// Issue 9's review: decisions that PL/pgSQL still made, moved into core.
#include <gtest/gtest.h>

#include "core/duration.hpp"
#include "core/policy.hpp"
#include "core/template.hpp"

namespace pgj::core {
namespace PGJ_UNIT_ID {
namespace {

// _enroll_rows read holdout_percent from the settings itself (with its own
// default); core reads it now, as parse_settings does for the engine.
TEST(ArchReview, HoldoutPercentOfSettings) {
  EXPECT_EQ(holdout_percent_of(Json()), 0);
  EXPECT_EQ(holdout_percent_of(Json::object()), 0);
  EXPECT_EQ(holdout_percent_of(Json::parse(R"({"holdout_percent": 12.5})")), 12.5);
  EXPECT_EQ(holdout_percent_of(Json::parse(R"({"holdout_percent": 0})")), 0);
  // Settings that do not parse keep no one out (as max_attempts_of keeps its default).
  EXPECT_EQ(holdout_percent_of(Json::parse(R"({"holdout_percent": "x"})")), 0);
  // Out of range: the validator reports it at publish; read as the engine reads it.
  EXPECT_EQ(holdout_percent_of(Json::parse(R"({"holdout_percent": 150})")), 150);
  EXPECT_EQ(holdout_percent_of(Json::parse(R"({"holdout_percent": 20, "reentry": "never"})")), 20);
}

// What engagement with a message does was decided in _message_event
// (PL/pgSQL); core decides it now.
TEST(ArchReview, EngagementEffects) {
  const Json none = Json::object();
  const Json transactional = Json::parse(R"({"transactional": true})");
  auto fx = [](const std::string& kind, const Json& props, const Json& settings) {
    EngagementEffects e = engagement_effects(kind, props, settings);
    return std::string(e.suppress ? "S" : "-") + (e.all_channels ? "A" : "-") +
           (e.ends_enrollment ? "E" : "-");
  };
  EXPECT_EQ(fx("delivered", none, none), "---");
  EXPECT_EQ(fx("opened", none, none), "---");
  EXPECT_EQ(fx("clicked", none, transactional), "---");
  EXPECT_EQ(fx("bounced", none, none), "---");
  EXPECT_EQ(fx("bounced", Json::parse(R"({"type": "soft"})"), none), "---");
  EXPECT_EQ(fx("bounced", Json::parse(R"({"type": "hard"})"), none), "S--");
  EXPECT_EQ(fx("complained", none, none), "S-E");
  EXPECT_EQ(fx("complained", none, transactional), "S-E");
  EXPECT_EQ(fx("unsubscribed", none, none), "S-E");
  EXPECT_EQ(fx("unsubscribed", Json::parse(R"({"scope": "all"})"), none), "SAE");
  EXPECT_EQ(fx("unsubscribed", Json::parse(R"({"scope": "channel"})"), none), "S-E");
  // A transactional journey keeps its unsubscribers (their suppression is added).
  EXPECT_EQ(fx("unsubscribed", none, transactional), "S--");
  EXPECT_EQ(fx("unsubscribed", none, Json::parse(R"({"transactional": false})")), "S-E");
  EXPECT_EQ(fx("unsubscribed", none, Json()), "S-E");
  EXPECT_TRUE(parse_settings(transactional).transactional);
  EXPECT_FALSE(parse_settings(none).transactional);
}

// format_date's directives as one table (duplicates D16): every directive, an
// afternoon hour, an unknown directive and a trailing '%' as before.
TEST(ArchReview, DateDirectives) {
  CompiledTemplate t =
      compile_template("{{at | date: \"%Y|%y|%m|%d|%e|%H|%I|%M|%S|%p|%B|%b|%A|%a|%j|%%|%q|%\"}}");
  ASSERT_TRUE(t.errors.empty());
  std::string out = render(t, [](const std::string&) -> std::optional<std::string> {
    return std::string("2031-03-04T14:05:09Z");
  });
  EXPECT_EQ(out, "2031|31|03|04|4|14|02|05|09|PM|March|Mar|Tuesday|Tue|063|%|%q|%");
}

// format_timestamp and format_date take an instant apart in one place
// (civil_time, duplicates D39): before the epoch, fractions, a leap day.
TEST(ArchReview, CivilTime) {
  EXPECT_EQ(format_timestamp(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_timestamp(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(format_timestamp(951782400123456), "2000-02-29T00:00:00.123456Z");
  EXPECT_EQ(format_timestamp(-86400000000LL * 365 - 1000000), "1968-12-31T23:59:59Z");
  CivilTime t = civil_time(-1);
  EXPECT_EQ(t.year, 1969);
  EXPECT_EQ(t.epoch_day, -1);
  EXPECT_EQ(t.micros, 999999);
  CompiledTemplate tpl = compile_template("{{at | date: \"%a %e %b %Y %H:%M:%S %j\"}}");
  ASSERT_TRUE(tpl.errors.empty());
  EXPECT_EQ(render(tpl,
                   [](const std::string&) -> std::optional<std::string> {
                     return std::string("1969-12-31T23:59:59.5Z");
                   }),
            "Wed 31 Dec 1969 23:59:59 365");
}

}  // namespace
}  // namespace PGJ_UNIT_ID
}  // namespace pgj::core
