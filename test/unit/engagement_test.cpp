// Delivery and engagement in the core (docs/delivery.md): the recipient of each
// message per channel, waits and behaviour conditions on the message of a step
// ("message_of"), and the validator's rules for message_of.
#include <gtest/gtest.h>

#include <map>

#include "core/engine.hpp"
#include "core/validator.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

constexpr int64_t kNow = 1893492000LL * 1000000;  // 2030-01-01 10:00 UTC
enum Col { kId, kEmail, kPhone, kNumCols };

AudienceSchema audience() {
  AudienceSchema s = pgj::unit::audience_schema("public.fans");
  s.columns = {{"id", ValueType::Text, "text"},
               {"email", ValueType::Text, "text"},
               {"phone", ValueType::Text, "text"}};
  s.email_column = kEmail;
  s.recipients = {{"sms", kPhone}};
  return s;
}

// Answers behaviour leaves with message_of from a set of "kind/step".
struct Runtime_ : pgj::unit::TemplatesRuntime {
  std::set<std::string> engaged;  // "kind/message_of"
  int64_t add_duration(int64_t ts, const Duration& d, const std::string&) override {
    return ts + d.days * kMicrosPerDay + d.micros;
  }
  int64_t next_local_time(int64_t after, int, uint8_t, const std::string&) override {
    return after;
  }
  Json call_function(const std::string&, const std::string&, const Json&) override { return {}; }
  bool happened(const Enrollment&, const std::string&, const std::string&, std::optional<Duration>,
                int64_t) override {
    return true;  // plain behaviour leaves would say yes: message_of must not ask them
  }
  bool message_happened(const Enrollment&, const std::string& kind, const std::string& message_of,
                        std::optional<Duration>, int64_t) override {
    return engaged.count(kind + "/" + message_of) > 0;
  }
};

Json def(const char* steps) {
  return pgj::unit::journey_def("public.fans", steps);
}

struct Engagement : ::testing::Test {
  AudienceSchema schema = audience();
  Runtime_ rt;
  std::vector<Value> row{std::string("c1"), std::string("c1@x.test"), std::monostate{}};
  void SetUp() override {
    rt.add("mail", "email", "Hi");
    rt.add("text", "sms", "Hi");
    rt.add("hook", "webhook", "Hi");
  }
  RunResult run(const CompiledJourney& j, const Enrollment& e) {
    return run_enrollment(j, schema, e, row, kNow, rt, 100);
  }
  Enrollment fresh(const CompiledJourney& j) {
    Enrollment e;
    e.id = 7;
    e.customer_id = "c1";
    e.step = j.start;
    return e;
  }
};

}  // namespace

TEST_F(Engagement, RecipientPerChannel) {
  CompiledJourney j =
      compile_journey(def(R"([{"key": "a", "type": "send_email", "template": "mail", "next": "b"},
              {"key": "b", "type": "send", "channel": "sms", "template": "text", "next": "c"},
              {"key": "c", "type": "send", "channel": "webhook", "template": "hook"}])"),
                      schema, 1, 1);
  RunResult r = run(j, fresh(j));
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].recipient, "c1@x.test");
  EXPECT_FALSE(r.messages[0].no_recipient);
  EXPECT_EQ(r.messages[1].recipient, std::nullopt);  // the phone is null
  EXPECT_TRUE(r.messages[1].no_recipient);
  EXPECT_EQ(r.messages[2].recipient, std::nullopt);  // no recipient column for webhooks
  EXPECT_FALSE(r.messages[2].no_recipient);
  // The recipient columns are read with the customer row.
  std::map<std::string, TemplateDef> none;
  std::vector<int> cols = columns_read(j, schema, none);
  EXPECT_NE(std::find(cols.begin(), cols.end(), kPhone), cols.end());
  EXPECT_NE(std::find(cols.begin(), cols.end(), kEmail), cols.end());
}

TEST_F(Engagement, WaitCountsOnlyItsOwnMessage) {
  CompiledJourney j = compile_journey(
      def(R"([{"key": "invite", "type": "send_email", "template": "mail", "next": "w"},
              {"key": "w", "type": "wait_for_event", "event": "opened", "message_of": "invite",
               "timeout": "3 days", "branches": {"event": "yes", "timeout": "no"}},
              {"key": "yes", "type": "goal"}, {"key": "no", "type": "exit"}])"),
      schema, 1, 1);
  RunResult first = run(j, fresh(j));
  ASSERT_EQ(first.outcome, RunResult::Outcome::Parked);
  Enrollment e = fresh(j);
  e.step = j.find("w");
  e.parked = true;
  e.parked_at = kNow;
  e.wait_deadline = kNow + 3 * kMicrosPerDay;
  auto opened = [](Json message) {
    Json ev = {{"name", "opened"}, {"properties", Json::object()}};
    if (!message.is_null()) ev["message"] = message;
    return ev;
  };
  // An open without a message (track), of another step, of another enrollment: no.
  e.woken_by = Json::array({opened(nullptr), opened({{"step", "other"}, {"enrollment_id", 7}}),
                            opened({{"step", "invite"}, {"enrollment_id", 8}})});
  RunResult r = run(j, e);
  EXPECT_EQ(r.outcome, RunResult::Outcome::Parked);
  // Its own message: yes.
  e.woken_by.push_back(opened({{"id", 1}, {"step", "invite"}, {"enrollment_id", 7}}));
  r = run(j, e);
  EXPECT_EQ(r.outcome, RunResult::Outcome::Completed);
  ASSERT_FALSE(r.visits_log.empty());
  EXPECT_EQ(r.visits_log[0].branch, "event");
}

TEST_F(Engagement, ConditionOnTheMessageOfAStep) {
  CompiledJourney j = compile_journey(
      def(R"([{"key": "invite", "type": "send_email", "template": "mail", "next": "q"},
              {"key": "q", "type": "condition",
               "if": {"event": "clicked", "message_of": "invite", "within": "7 days"},
               "branches": {"yes": "y", "no": "n"}},
              {"key": "y", "type": "goal"}, {"key": "n", "type": "exit"}])"),
      schema, 1, 1);
  RunResult r = run(j, fresh(j));
  ASSERT_EQ(r.visits_log.size(), 3u);
  EXPECT_EQ(r.visits_log[1].branch, "no");
  rt.engaged.insert("clicked/invite");
  r = run(j, fresh(j));
  EXPECT_EQ(r.visits_log[1].branch, "yes");
}

TEST_F(Engagement, ValidatorMessageOf) {
  ValidationEnv env;
  env.audience = &schema;
  env.template_channel = [](const std::string& n) -> std::optional<std::string> {
    if (n == "mail") return "email";
    return std::nullopt;
  };
  auto errors = [&](const char* steps) {
    std::vector<std::string> out;
    for (const Issue& i : validate_journey(def(steps), env))
      if (i.severity == "error") out.push_back(i.step_key + ": " + i.message);
    return out;
  };
  // The catalog's example ("invite"), with the send step before the wait.
  EXPECT_TRUE(errors(R"([{"key": "invite", "type": "send_email", "template": "mail", "next": "w"},
                         {"key": "w", "type": "wait_for_event", "event": "opened",
                          "message_of": "invite"}])")
                  .empty());
  EXPECT_EQ(
      errors(R"([{"key": "w", "type": "wait_for_event", "event": "opened",
                        "message_of": "invite", "branches": {"event": "invite"}},
                       {"key": "invite", "type": "send_email", "template": "mail"}])"),
      std::vector<std::string>{
          "w: \"message_of\" of step \"w\" names step \"invite\", which does not come before it"});
  // A loop makes a later send step come before the wait too.
  EXPECT_TRUE(errors(R"([{"key": "w", "type": "wait_for_event", "event": "opened",
                          "message_of": "invite", "timeout": "1 day",
                          "branches": {"event": "invite", "timeout": "invite"}},
                         {"key": "invite", "type": "send_email", "template": "mail", "next": "w"}])")
                  .empty());
}

TEST_F(Engagement, UpdateFieldFromContextAndEvent) {
  CompiledJourney j = compile_journey(def(R"([{"key": "u", "type": "update_field",
               "set": {"email": {"from": "context.mail"}, "phone": {"from": "event.n"}}}])"),
                                      schema, 1, 1);
  Enrollment e = fresh(j);
  e.context = {{"mail", "new@x.test"}};
  e.last_event = {{"n", 33}};
  RunResult r = run(j, e);
  ASSERT_EQ(r.updates.size(), 2u);
  EXPECT_EQ(r.updates[0].value, "new@x.test");
  EXPECT_EQ(r.updates[1].value, "33");  // a number into a text column, as text
  e.context = Json::object();           // missing: the column stays as it is
  r = run(j, e);
  ASSERT_EQ(r.updates.size(), 1u);
  EXPECT_EQ(r.updates[0].column, kPhone);
}

}  // namespace PGJ_UNIT_ID
