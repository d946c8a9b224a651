// Issue 10, probe finding F10: the validator warns when the longest path from
// the start without a repeated step is longer than max_step_visits
// (core::longest_acyclic_path and its warning).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/graph.hpp"
#include "core/validator.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

// The probe's journey k1 (send, delay, branch, wait_until with a loop, goal,
// exit), its settings given.
Json k1(const std::string& settings) {
  return Json::parse(R"({"name": "k1", "audience": "public.customers", "start": "mail",
    "settings": )" + settings +
                     R"(,
    "steps": [{"key": "mail", "type": "send", "channel": "sms", "payload": {"x": 1}, "next": "untilf"},
              {"key": "untilf", "type": "delay", "duration": "1 day", "next": "route"},
              {"key": "route", "type": "branch",
               "cases": [{"name": "pro", "when": {"field": "plan", "op": "eq", "value": "pro"}}],
               "branches": {"pro": "wu", "else": "g"}},
              {"key": "wu", "type": "wait_until", "when": {"field": "touched", "op": "eq", "value": true},
               "timeout": "1 day", "branches": {"met": "g", "timeout": "upd"}},
              {"key": "upd", "type": "update_field", "set": {"touched": true}, "next": "loopd"},
              {"key": "loopd", "type": "delay", "duration": "2 hours", "next": "ping"},
              {"key": "ping", "type": "send", "channel": "sms", "payload": {"x": 1}, "next": "loopd"},
              {"key": "g", "type": "goal", "next": "fin"},
              {"key": "fin", "type": "exit"}]})");
}

std::vector<std::string> keys(const JourneyGraph& g, const std::vector<size_t>& path) {
  std::vector<std::string> out;
  for (size_t i : path) out.push_back(g.steps[i].key);
  return out;
}

std::vector<Issue> validate(const Json& def) {
  ValidationEnv env;
  env.audience_unchecked = true;
  return validate_journey(def, env);
}

std::vector<Issue> visit_limit_warnings(const std::vector<Issue>& issues) {
  std::vector<Issue> out;
  for (const Issue& i : issues)
    if (i.message.find("max_step_visits") != std::string::npos) out.push_back(i);
  return out;
}

}  // namespace

TEST(LongestAcyclicPath, StraightLineIsTheWholeLine) {
  JourneyGraph g = parse_graph(Json::parse(R"({"start": "a", "steps": [
    {"key": "a", "type": "send", "next": "b"}, {"key": "b", "type": "delay", "next": "c"},
    {"key": "c", "type": "exit"}]})"),
                               nullptr);
  EXPECT_EQ(keys(g, longest_acyclic_path(g)), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(LongestAcyclicPath, TakesTheLongerBranchAndLeavesCyclesOut) {
  JourneyGraph g = parse_graph(k1("{}"), nullptr);
  // The loop loopd -> ping -> loopd is left before it closes.
  EXPECT_EQ(keys(g, longest_acyclic_path(g)),
            (std::vector<std::string>{"mail", "untilf", "route", "wu", "upd", "loopd", "ping"}));
}

TEST(LongestAcyclicPath, ADiamondCountsItsLongerSideOnce) {
  // a -> (b | c -> d) -> e: the longest way is a c d e, whichever branch the
  // search takes first; e reached twice is counted once.
  JourneyGraph g = parse_graph(Json::parse(R"({"start": "a", "steps": [
    {"key": "a", "type": "condition", "branches": {"yes": "b", "no": "c"}},
    {"key": "b", "type": "send", "next": "e"}, {"key": "c", "type": "delay", "next": "d"},
    {"key": "d", "type": "send", "next": "e"}, {"key": "e", "type": "exit"}]})"),
                               nullptr);
  EXPECT_EQ(keys(g, longest_acyclic_path(g)), (std::vector<std::string>{"a", "c", "d", "e"}));
}

TEST(LongestAcyclicPath, NoStartNoPath) {
  JourneyGraph g = parse_graph(Json::parse(R"({"start": "zz", "steps": [
    {"key": "a", "type": "exit"}]})"),
                               nullptr);
  EXPECT_TRUE(longest_acyclic_path(g).empty());
}

TEST(VisitLimitPath, WarnsAtTheStepWhereEnrollmentsFail) {
  std::vector<Issue> w = visit_limit_warnings(validate(k1(R"({"max_step_visits": 5})")));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].severity, "warning");
  EXPECT_EQ(w[0].step_key, "loopd");
  EXPECT_EQ(
      w[0].message,
      "journey \"k1\": the path mail -> untilf -> route -> wu -> upd -> loopd -> ping visits 7 "
      "steps, more than max_step_visits (5): every enrollment that takes it fails at step "
      "\"loopd\"");
}

TEST(VisitLimitPath, SilentWhenThePathFits) {
  EXPECT_TRUE(visit_limit_warnings(validate(k1(R"({"max_step_visits": 7})"))).empty());
  EXPECT_TRUE(visit_limit_warnings(validate(k1("{}"))).empty());  // default 1000
  std::vector<Issue> w = visit_limit_warnings(validate(k1(R"({"max_step_visits": 6})")));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].step_key, "ping");
}

TEST(VisitLimitPath, AFirstRunTooLongIsTheRunLengthErrorAlone) {
  // mail -> untilf: the first run is 2 steps, one more than the setting
  // allows: the run-length rule's error, not a second issue about the path.
  std::vector<Issue> w = visit_limit_warnings(validate(k1(R"({"max_step_visits": 1})")));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].severity, "error");
  EXPECT_EQ(w[0].step_key, "mail");
}

TEST(VisitLimitPath, LongPathsAreShortenedInTheMessage) {
  // s0 -> s1 -> ... -> s19, a delay every other step.
  Json steps = Json::array();
  for (int i = 0; i < 20; ++i) {
    Json s = {{"key", "s" + std::to_string(i)}};
    if (i % 2) {
      s["type"] = "delay";
      s["duration"] = "1 hour";
    } else {
      s["type"] = "send";
      s["channel"] = "sms";
      s["payload"] = Json::object();
    }
    if (i < 19) s["next"] = "s" + std::to_string(i + 1);
    steps.push_back(s);
  }
  Json def = {{"name", "long"},
              {"audience", "public.customers"},
              {"start", "s0"},
              {"settings", {{"max_step_visits", 10}}},
              {"steps", steps}};
  std::vector<Issue> w = visit_limit_warnings(validate(def));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].step_key, "s10");
  EXPECT_EQ(w[0].message,
            "journey \"long\": the path s0 -> s1 -> s2 -> s3 -> s4 -> ... -> s15 -> s16 -> s17 -> "
            "s18 -> s19 visits 20 steps, more than max_step_visits (10): every enrollment that "
            "takes it fails at step \"s10\"");
}

}  // namespace PGJ_UNIT_ID
