// Fourth analyst probe (issue 10): split variants and branch cases may not take
// the names the reports give their own groups (F2); an event that occurred
// before an enrollment entered does not end or convert it (F4).
#include <gtest/gtest.h>

#include "core/event_rules.hpp"
#include "core/validator.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

std::vector<std::string> errors(const std::vector<Issue>& issues) {
  std::vector<std::string> out;
  for (const Issue& i : issues)
    if (i.severity == "error") out.push_back(i.step_key + ": " + i.message);
  return out;
}

Json reserved_names_journey(const std::string& variant, const std::string& case_name) {
  Json d = Json::parse(R"({"name": "hx", "audience": "public.people", "start": "r",
    "steps": [{"key": "r", "type": "branch",
               "cases": [{"name": "c", "when": {"field": "plan", "op": "eq", "value": "pro"}}],
               "branches": {"else": "sp"}},
              {"key": "sp", "type": "split",
               "variants": [{"name": "v", "weight": 1}, {"name": "b", "weight": 1}],
               "branches": {"b": "e"}},
              {"key": "e", "type": "exit"}]})");
  d["steps"][0]["cases"][0]["name"] = case_name;
  d["steps"][0]["branches"][case_name] = "sp";
  d["steps"][1]["variants"][0]["name"] = variant;
  d["steps"][1]["branches"][variant] = "e";
  return d;
}

}  // namespace

TEST(Probe4ReservedNames, VariantAndCaseNamesStartingWithParenthesisAreErrors) {
  AudienceSchema s = pgj::unit::audience_schema("public.people");
  s.columns = {{"id", ValueType::Text, "text"}, {"plan", ValueType::Text, "text"}};
  ValidationEnv env;
  env.audience = &s;
  EXPECT_EQ(errors(validate_journey(reserved_names_journey("a", "pro"), env)),
            std::vector<std::string>{});
  // A parenthesis inside a name is fine; only the first character counts.
  EXPECT_EQ(errors(validate_journey(reserved_names_journey("a (x)", "pro)"), env)),
            std::vector<std::string>{});
  const std::string tail =
      " must not start with \"(\" (the reports name their own groups so: (holdout), (journey), "
      "(end), (exited), (failed))";
  for (const char* name : {"(holdout)", "(journey)", "(end)", "(exited)", "(failed)", "(x"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(errors(validate_journey(reserved_names_journey(name, name), env)),
              (std::vector<std::string>{std::string("r: case name \"") + name +
                                            "\" of step \"r\" in journey \"hx\"" + tail,
                                        std::string("sp: variant name \"") + name +
                                            "\" of step \"sp\" in journey \"hx\"" + tail}));
  }
}

TEST(Probe4BackdatedEvents, AnEventBeforeTheEntryDoesNotEndTheEnrollment) {
  VersionEventRules rules;
  EventRule goal = compile_event_rule("purchased", Json());
  goal.reason = "bought";
  goal.is_goal = true;
  rules.exits.push_back(goal);
  TrackJourney j;
  j.id = 1;
  j.name = "ws";
  j.published = j.live = true;
  j.rules = &rules;
  auto enrollment = [&](int64_t id, int64_t entered_at) {
    TrackEnrollment e;
    e.id = id;
    e.journey = 0;
    e.rules = &rules;
    e.waiting_for = "purchased";
    e.entered_at = entered_at;
    return e;
  };
  // 7 entered at 1000, 8 at 2000, 9 at 3000; the purchase occurred at 2000.
  std::vector<TrackEnrollment> es = {enrollment(7, 1000), enrollment(8, 2000), enrollment(9, 3000)};
  TrackEffects fx = track_effects("purchased", Json::object(), {j}, es, 2000);
  ASSERT_EQ(fx.exits.size(), 2u);
  EXPECT_EQ(fx.exits[0].enrollment_id, 7);
  EXPECT_EQ(fx.exits[1].enrollment_id, 8);
  EXPECT_EQ(fx.exits[1].reason, "bought");
  EXPECT_TRUE(fx.exits[1].is_goal);
  // Nor does it wake one that entered after it (track applied that in SQL
  // since fix-input F21; core decides it now: TrackEffects.BackdatedEventWakesNothing).
  EXPECT_EQ(fx.wakes, (std::vector<int64_t>{7, 8}));
  // Without a time every matching enrollment ends (as before).
  EXPECT_EQ(track_effects("purchased", Json::object(), {j}, es).exits.size(), 3u);
}

}  // namespace PGJ_UNIT_ID
