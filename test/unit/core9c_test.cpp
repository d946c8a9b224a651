// core9c (issue 9, audit-9b S8, S1, S2, S4): the last runtime decisions moved
// out of PL/pgSQL: what the customer-table triggers capture, the per-entity
// refusals of enroll / enroll_query / simulate, and which messages take
// engagement.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "core/engine.hpp"
#include "core/entity.hpp"
#include "core/error.hpp"
#include "core/json.hpp"
#include "core/policy.hpp"
#include "core/row_rules.hpp"

namespace pgj::core {
namespace PGJ_UNIT_ID {
namespace {

const std::vector<std::string> kJourneyStates = {"draft", "published", "paused", "archived"};
const std::vector<std::string> kVersionStatuses = {"draft", "published", "retired"};

bool listed(const std::vector<std::string>& list, const std::string& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// --- S8: which versions the trigger evaluates, and what it captures --------

TEST(TriggerScope, EachJourneyStateAndVersionStatus) {
  for (const std::string& state : kJourneyStates)
    for (const std::string& status : kVersionStatuses)
      for (bool current : {false, true}) {
        SCOPED_TRACE(state + " / " + status + (current ? " (published_version)" : ""));
        TriggerScope scope = trigger_scope(state, status, current);
        const bool may_be_active = state == "published" || state == "paused";
        const bool evaluated = status == "published" || status == "retired";
        EXPECT_EQ(scope.rules, may_be_active && evaluated);
        // Attribute entries: the live version of a published journey only.
        EXPECT_EQ(scope.entries, state == "published" && evaluated && current);
      }
}

TEST(TriggerScope, TheQueryParametersListExactlyWhatTheScopeAccepts) {
  // The pg layer asks only for these states and statuses: nothing the scope
  // accepts is left out, nothing it refuses is read.
  for (const std::string& state : kJourneyStates) {
    SCOPED_TRACE(state);
    EXPECT_EQ(listed(trigger_journey_states(), state), enrollments_may_be_active(state));
    bool some_version = false;
    for (const std::string& status : kVersionStatuses)
      some_version = some_version || trigger_scope(state, status, true).rules;
    EXPECT_EQ(listed(trigger_journey_states(), state), some_version);
  }
  for (const std::string& status : kVersionStatuses) {
    SCOPED_TRACE(status);
    EXPECT_EQ(listed(trigger_version_statuses(), status),
              trigger_scope("published", status, false).rules);
  }
}

TriggerVersion version(const std::string& state, std::optional<std::string> status, bool current,
                       bool entries, bool exits, bool waits, bool compiles = true) {
  TriggerVersion v;
  v.journey_state = state;
  v.version_status = std::move(status);
  v.published_version = current;
  v.entries = entries;
  v.exits = exits;
  v.waits = waits;
  v.compiles = compiles;
  return v;
}

CaptureNeeds needs_of(const std::vector<TriggerVersion>& versions) {
  return capture_needs(versions);
}

TEST(CaptureNeeds, NoJourneyCapturesNothing) {
  CaptureNeeds n = needs_of({});
  EXPECT_FALSE(n.changes);
  EXPECT_FALSE(n.deletes);
}

TEST(CaptureNeeds, AttributeEntryOfTheLiveVersionOnly) {
  // The live version of a published journey.
  CaptureNeeds live = needs_of({version("published", "published", true, true, false, false)});
  EXPECT_TRUE(live.changes);
  EXPECT_TRUE(live.deletes);
  // Paused: it enrolls no one; its enrollments may still be active.
  CaptureNeeds paused = needs_of({version("paused", "published", true, true, false, false)});
  EXPECT_FALSE(paused.changes);
  EXPECT_TRUE(paused.deletes);
  // A retired version's attribute trigger enrolls no one.
  CaptureNeeds retired = needs_of({version("published", "retired", false, true, false, false)});
  EXPECT_FALSE(retired.changes);
  EXPECT_TRUE(retired.deletes);
}

TEST(CaptureNeeds, ConditionExitsAndWaitUntilOfPublishedAndRetiredVersions) {
  for (const std::string& state : {std::string("published"), std::string("paused")})
    for (const std::string& status : {std::string("published"), std::string("retired")})
      for (int kind = 0; kind < 2; ++kind) {
        SCOPED_TRACE(state + " / " + status + (kind == 0 ? " exit" : " wait_until"));
        CaptureNeeds n =
            needs_of({version(state, status, status == "published", false, kind == 0, kind == 1)});
        EXPECT_TRUE(n.changes);
        EXPECT_TRUE(n.deletes);
      }
  // A draft version, a draft or archived journey: nothing.
  for (const std::string& state : {std::string("draft"), std::string("archived")}) {
    SCOPED_TRACE(state);
    CaptureNeeds n = needs_of({version(state, "retired", false, true, true, true),
                               version(state, "draft", false, true, true, true)});
    EXPECT_FALSE(n.changes);
    EXPECT_FALSE(n.deletes);
  }
  CaptureNeeds draft_version =
      needs_of({version("published", "draft", false, true, true, true),
                version("published", "published", true, false, false, false)});
  EXPECT_FALSE(draft_version.changes);
  EXPECT_TRUE(draft_version.deletes);
}

TEST(CaptureNeeds, DeletesWhileAJourneyMayHaveActiveEnrollments) {
  // A published or paused journey without a version the trigger reads (the
  // query's row without a version) still captures deletes.
  EXPECT_TRUE(needs_of({version("paused", std::nullopt, false, false, false, false)}).deletes);
  EXPECT_FALSE(needs_of({version("paused", std::nullopt, false, false, false, false)}).changes);
  EXPECT_FALSE(needs_of({version("draft", std::nullopt, false, false, false, false)}).deletes);
  EXPECT_FALSE(needs_of({version("archived", std::nullopt, false, false, false, false)}).deletes);
}

TEST(CaptureNeeds, AVersionThatDoesNotCompileKeepsCapturing) {
  // The trigger skips it with a WARNING saying why: it must run to say so.
  CaptureNeeds broken =
      needs_of({version("published", "retired", false, false, false, false, false)});
  EXPECT_TRUE(broken.changes);
  // Unless the trigger would not evaluate it anyway.
  EXPECT_FALSE(
      needs_of({version("published", "draft", false, false, false, false, false)}).changes);
}

// --- S1, S2: journeys that run one enrollment per entity -------------------

JourneySettings per_cart() {
  return parse_settings(Json::parse(R"({"entity_property": "cart_id"})"));
}

template <typename F>
Error error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error";
  return Error("00000", "");
}

TEST(EntityOfSettings, TheEntityPropertyOfTheCompiledSettings) {
  EXPECT_EQ(entity_property_of(per_cart()), "cart_id");
  EXPECT_EQ(entity_property_of(parse_settings(Json::object())), std::nullopt);
  EXPECT_EQ(entity_property_of(parse_settings(Json::parse(R"({"reentry": "always"})"))),
            std::nullopt);
}

TEST(EntityOfSettings, KeyListsRefusedWithWhatToDoInstead) {
  Error e = error_of([] { refuse_key_list("carts", per_cart(), KeyList::Enroll); });
  EXPECT_EQ(e.sqlstate(), "22023");
  EXPECT_STREQ(e.what(),
               "journey \"carts\" runs one enrollment per \"cart_id\": enroll its customers with "
               "journey.enroll(..., context)");
  Error s = error_of([] { refuse_key_list("carts", per_cart(), KeyList::Simulate); });
  EXPECT_EQ(s.sqlstate(), "22023");
  EXPECT_STREQ(s.what(),
               "journey \"carts\" runs one enrollment per \"cart_id\": it cannot be simulated "
               "over customer keys");
  // One enrollment per customer: a list is fine.
  EXPECT_NO_THROW(refuse_key_list("welcome", parse_settings(Json::object()), KeyList::Enroll));
  EXPECT_NO_THROW(refuse_key_list("welcome", parse_settings(Json::object()), KeyList::Simulate));
}

TEST(EntityOfSettings, EnrollsContextNamesTheEntity) {
  EXPECT_EQ(context_entity("carts", per_cart(), "string", "c-1"), "c-1");
  EXPECT_EQ(context_entity("carts", per_cart(), "number", "42.0"), "42");
  // Per customer: no entity, whatever the context holds.
  EXPECT_EQ(context_entity("welcome", parse_settings(Json::object()), "string", "c-1"),
            std::nullopt);
  EXPECT_EQ(context_entity("welcome", parse_settings(Json::object()), "", std::nullopt),
            std::nullopt);
}

TEST(EntityOfSettings, EnrollsContextWithoutTheKeyOrWithABadValueIsRefused) {
  for (const char* type : {"", "null"}) {
    SCOPED_TRACE(type);
    Error e = error_of([&] { context_entity("carts", per_cart(), type, std::nullopt); });
    EXPECT_EQ(e.sqlstate(), "22023");
    EXPECT_STREQ(e.what(),
                 "journey \"carts\" runs one enrollment per \"cart_id\": the context needs that "
                 "key");
  }
  Error bad = error_of([] { context_entity("carts", per_cart(), "number", "1.5"); });
  EXPECT_EQ(bad.sqlstate(), "22023");
  EXPECT_STREQ(bad.what(),
               "entity \"cart_id\" of the context for journey \"carts\" must be a string or an "
               "integer, got 1.5");
  EXPECT_EQ(bad.detail(),
            "journey \"carts\" runs one enrollment per \"cart_id\"; nothing was "
            "recorded");
}

// --- S4: engagement only with a message handed out -------------------------

TEST(EngagementAccepted, OnlyMessagesHandedOutToASender) {
  for (const char* status : {"claimed", "sent", "failed"}) EXPECT_TRUE(engagement_accepted(status));
  for (const char* status : {"pending", "suppressed", ""})
    EXPECT_FALSE(engagement_accepted(status)) << status;
}

// --- S5: what a caller may report -----------------------------------------

TEST(EngagementInput, KindsPropertiesBounceTypeAndScope) {
  auto prop = [](std::optional<std::string> text, std::string rendered) {
    return std::optional<EngagementProperty>(EngagementProperty{std::move(text), rendered});
  };
  const std::optional<EngagementProperty> absent;
  for (const std::string& kind : engagement_kinds())
    EXPECT_NO_THROW(check_engagement_input(kind, true, absent, absent)) << kind;
  EXPECT_EQ(engagement_kinds().size(), 6u);

  Error unknown = error_of([&] { check_engagement_input("read", true, absent, absent); });
  EXPECT_EQ(unknown.sqlstate(), "22023");
  EXPECT_STREQ(unknown.what(), "unknown message event kind \"read\"");
  EXPECT_EQ(unknown.hint(), "one of delivered, opened, clicked, bounced, complained, unsubscribed");
  Error none = error_of([&] { check_engagement_input(std::nullopt, true, absent, absent); });
  EXPECT_STREQ(none.what(), "unknown message event kind \"<NULL>\"");
  // The kind first, then the properties.
  EXPECT_STREQ(error_of([&] { check_engagement_input("read", false, absent, absent); }).what(),
               "unknown message event kind \"read\"");
  Error array = error_of([&] { check_engagement_input("opened", false, absent, absent); });
  EXPECT_EQ(array.sqlstate(), "22023");
  EXPECT_STREQ(array.what(), "properties of message event \"opened\" must be a JSON object");

  for (const char* type : {"hard", "soft"})
    EXPECT_NO_THROW(check_engagement_input("bounced", true, prop(type, ""), absent));
  Error medium = error_of(
      [&] { check_engagement_input("bounced", true, prop("medium", "\"medium\""), absent); });
  EXPECT_EQ(medium.sqlstate(), "22023");
  EXPECT_STREQ(medium.what(), "bounce type must be \"hard\" or \"soft\", got \"medium\"");
  EXPECT_STREQ(error_of([&] {
                 check_engagement_input("bounced", true, prop(std::nullopt, "null"), absent);
               }).what(),
               "bounce type must be \"hard\" or \"soft\", got null");
  // A type on another kind is not checked.
  EXPECT_NO_THROW(check_engagement_input("opened", true, prop("medium", "\"medium\""), absent));

  for (const char* scope : {"all", "channel"})
    EXPECT_NO_THROW(check_engagement_input("unsubscribed", true, absent, prop(scope, "")));
  Error everything =
      error_of([&] { check_engagement_input("unsubscribed", true, absent, prop("1", "1")); });
  EXPECT_EQ(everything.sqlstate(), "22023");
  EXPECT_STREQ(everything.what(),
               "scope of message event \"unsubscribed\" must be \"all\" or \"channel\", got 1");
  EXPECT_NO_THROW(check_engagement_input("bounced", true, absent, prop("x", "\"x\"")));
}

}  // namespace
}  // namespace PGJ_UNIT_ID
}  // namespace pgj::core
