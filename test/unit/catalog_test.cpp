// The catalog (core/catalog.hpp) against the validator: what the catalog says
// about every step type, entry trigger, exit rule and setting is what the
// validator does. A field the catalog forgets, a required field it calls
// optional, an allowed value the validator refuses, or branches that differ
// fail here.
#include <gtest/gtest.h>

#include <set>

#include "core/catalog.hpp"
#include "core/condition.hpp"
#include "core/graph.hpp"
#include "core/validator.hpp"
#include "fixtures.hpp"

namespace PGJ_UNIT_ID {

using namespace pgj::core;

namespace {

AudienceSchema customers() {
  AudienceSchema s = pgj::unit::audience_schema("public.customers");
  s.columns = {
      {"id", ValueType::Int, "bigint"},
      {"email", ValueType::Text, "text"},
      {"first_name", ValueType::Text, "text"},
      {"plan", ValueType::Text, "text"},
      {"unsubscribed", ValueType::Bool, "boolean"},
      {"signed_up_at", ValueType::Timestamp, "timestamp with time zone"},
      {"birthday", ValueType::Date, "date"},
  };
  return s;
}

// A database with the templates, zones and functions the catalog's examples name.
struct Env {
  AudienceSchema schema = customers();
  ValidationEnv env;
  Env() {
    env.audience = &schema;
    env.template_channel = [](const std::string& name) -> std::optional<std::string> {
      if (name == "welcome") return "email";
      if (name == "sms_hi") return "sms";
      return std::nullopt;
    };
    env.is_valid_timezone = [](const std::string& z) { return z == "UTC" || z == "Europe/Paris"; };
    env.check_call_function = [](const std::string&) { return std::string(); };
    env.check_update_column = [](const std::string&) { return std::string(); };
  }
};

// The issue key the validator uses for the item of this kind.
std::string item_key(const std::string& kind) {
  if (kind == "steps") return "s";
  if (kind == "entry_triggers") return "entry[0]";
  return "exit[0]";
}

// A journey holding one item of `kind` (a step, an entry trigger or an exit
// rule) of type `type` with this config.
Json journey_with(const std::string& kind, const std::string& type, const Json& config) {
  Json item = config;
  item["type"] = type;
  Json def = {{"name", "t"}, {"audience", "public.customers"}, {"start", "s"}};
  def["entry"] = Json::array({{{"type", "manual"}}});
  def["steps"] = Json::array({{{"key", "s"}, {"type", "goal"}}});
  if (kind == "steps") {
    item["key"] = "s";
    def["steps"] = Json::array({item});
  } else if (kind == "entry_triggers") {
    def["entry"] = Json::array({item});
  } else {
    def["exit"] = Json::array({item});
  }
  return def;
}

// Issues of an item of `kind`/`type` with `config`, at that item only.
std::vector<Issue> issues_of(const std::string& kind, const std::string& type, const Json& config) {
  Env e;
  std::vector<Issue> out;
  for (Issue& i : validate_journey(journey_with(kind, type, config), e.env))
    if (i.step_key == item_key(kind)) out.push_back(std::move(i));
  return out;
}

int count(const std::vector<Issue>& issues, const std::string& severity) {
  int n = 0;
  for (const Issue& i : issues) n += i.severity == severity;
  return n;
}

std::string dump(const std::vector<Issue>& issues) {
  std::string s;
  for (const Issue& i : issues) s += "[" + i.step_key + "] " + i.severity + ": " + i.message + "\n";
  return s;
}

struct Kind {
  const char* name;
  const std::vector<TypeSpec>* types;
};

std::vector<Kind> kinds() {
  const Catalog& c = catalog();
  return {
      {"steps", &c.steps}, {"entry_triggers", &c.entry_triggers}, {"exit_rules", &c.exit_rules}};
}

// The example config with field f set to its example, made consistent: the
// other members of f's exactly-one-of group go, the fields f requires come.
Json with_field(const TypeSpec& t, const FieldSpec& f) {
  Json c = t.example;
  for (const auto& group : t.exactly_one_of)
    if (std::find(group.begin(), group.end(), f.name) != group.end())
      for (const std::string& other : group) c.erase(other);
  for (const std::string& need : f.requires_fields) {
    for (const FieldSpec& g : t.fields)
      if (g.name == need) {
        for (const auto& group : t.exactly_one_of)
          if (std::find(group.begin(), group.end(), need) != group.end())
            for (const std::string& other : group) c.erase(other);
        c[need] = g.example;
      }
  }
  c[f.name] = f.example;
  return c;
}

}  // namespace

TEST(Catalog, CoversEveryStepTypeAndOp) {
  const Catalog& c = catalog();
  std::set<std::string> types;
  for (const TypeSpec& t : c.steps) {
    EXPECT_TRUE(parse_step_type(t.type)) << t.type;
    types.insert(t.type);
  }
  for (const char* name : {"send_email", "send", "delay", "wait_for_event", "wait_until",
                           "condition", "branch", "split", "update_field", "call", "goal", "exit"})
    EXPECT_TRUE(types.count(name)) << name << " has no catalog entry";
  EXPECT_EQ(types.size(), 12u);
  std::set<std::string> ops;
  for (const OpSpec& o : c.condition_ops) {
    EXPECT_TRUE(parse_op(o.op)) << o.op;
    ops.insert(o.op);
  }
  EXPECT_EQ(ops.size(), 15u);  // every CondOp
  for (const TypeSpec& t : c.steps)
    EXPECT_EQ(t.waits, is_wait_type(*parse_step_type(t.type))) << t.type;
}

TEST(Catalog, ExamplesValidate) {
  for (const Kind& k : kinds())
    for (const TypeSpec& t : *k.types) {
      auto issues = issues_of(k.name, t.type, t.example);
      EXPECT_TRUE(issues.empty()) << k.name << " " << t.type << ":\n" << dump(issues);
    }
}

TEST(Catalog, EveryFieldIsKnownAndItsExampleValidates) {
  for (const Kind& k : kinds())
    for (const TypeSpec& t : *k.types) {
      std::vector<FieldSpec> fields = t.fields;
      if (std::string(k.name) == "steps")
        for (const FieldSpec& f : catalog().common_step_fields) fields.push_back(f);
      for (const FieldSpec& f : fields) {
        ASSERT_FALSE(f.example.is_null()) << t.type << "." << f.name << " has no example";
        // message_of names a send step before the step: checked in a journey
        // that has one (engagement_test.cpp).
        if (f.name == "message_of") continue;
        Json config = with_field(t, f);
        auto issues = issues_of(k.name, t.type, config);
        EXPECT_TRUE(issues.empty())
            << k.name << " " << t.type << "." << f.name << " with " << config.dump() << ":\n"
            << dump(issues);
      }
    }
}

TEST(Catalog, OmittingARequiredFieldIsAnError) {
  for (const Kind& k : kinds())
    for (const TypeSpec& t : *k.types)
      for (const FieldSpec& f : t.fields) {
        if (!f.required) continue;
        Json config = with_field(t, f);
        config.erase(f.name);
        auto issues = issues_of(k.name, t.type, config);
        EXPECT_GE(count(issues, "error"), 1)
            << k.name << " " << t.type << " without " << f.name << ":\n"
            << dump(issues);
      }
}

TEST(Catalog, OptionalFieldsMayBeLeftOut) {
  for (const Kind& k : kinds())
    for (const TypeSpec& t : *k.types)
      for (const FieldSpec& f : t.fields) {
        bool in_group = false;
        for (const auto& g : t.exactly_one_of)
          in_group = in_group || std::find(g.begin(), g.end(), f.name) != g.end();
        if (f.required || in_group) continue;
        Json config = t.example;
        config.erase(f.name);
        auto issues = issues_of(k.name, t.type, config);
        EXPECT_EQ(count(issues, "error"), 0)
            << k.name << " " << t.type << " without optional " << f.name << ":\n"
            << dump(issues);
      }
}

TEST(Catalog, ExactlyOneOfGroups) {
  for (const Kind& k : kinds())
    for (const TypeSpec& t : *k.types)
      for (const auto& group : t.exactly_one_of) {
        Json none = t.example;
        for (const std::string& m : group) none.erase(m);
        EXPECT_GE(count(issues_of(k.name, t.type, none), "error"), 1)
            << t.type << " with none of its group";
        Json two = none;
        int added = 0;
        for (const FieldSpec& f : t.fields)
          if (added < 2 && std::find(group.begin(), group.end(), f.name) != group.end()) {
            two[f.name] = f.example;
            ++added;
          }
        EXPECT_GE(count(issues_of(k.name, t.type, two), "error"), 1)
            << t.type << " with two of its group: " << two.dump();
      }
}

TEST(Catalog, FieldsThatNeedOthersAreErrorsAlone) {
  for (const Kind& k : kinds())
    for (const TypeSpec& t : *k.types)
      for (const FieldSpec& f : t.fields) {
        if (f.requires_fields.empty()) continue;
        Json config = t.example;
        config[f.name] = f.example;
        EXPECT_GE(count(issues_of(k.name, t.type, config), "error"), 1)
            << t.type << "." << f.name << " without " << f.requires_fields[0];
      }
}

TEST(Catalog, EveryAllowedValueValidatesAndOthersDoNot) {
  for (const Kind& k : kinds())
    for (const TypeSpec& t : *k.types)
      for (const FieldSpec& f : t.fields) {
        auto check = [&](const FieldSpec& field, auto&& set_value) {
          for (const std::string& v : field.allowed) {
            Json config = with_field(t, f);
            set_value(config, field.item_kind.empty() ? Json(v) : Json::array({v}));
            auto issues = issues_of(k.name, t.type, config);
            EXPECT_TRUE(issues.empty()) << t.type << "." << field.name << " = " << v << ":\n"
                                        << dump(issues);
          }
          if (field.kind == "enum" || field.item_kind == "enum") {
            Json config = with_field(t, f);
            set_value(config, field.item_kind.empty() ? Json("no-such-value")
                                                      : Json::array({"no-such-value"}));
            EXPECT_GE(count(issues_of(k.name, t.type, config), "error"), 1)
                << t.type << "." << field.name << " accepts a value it does not allow";
          }
        };
        check(f, [&](Json& c, const Json& v) { c[f.name] = v; });
        for (const FieldSpec& sub : f.fields)
          if (f.kind == "object")
            check(sub, [&](Json& c, const Json& v) { c[f.name][sub.name] = v; });
      }
}

TEST(Catalog, UnknownFieldsAreReportedAsTheCatalogSays) {
  for (const Kind& k : kinds())
    for (const TypeSpec& t : *k.types) {
      Json config = t.example;
      config["no_such_field"] = 1;
      auto issues = issues_of(k.name, t.type, config);
      ASSERT_EQ(issues.size(), 1u) << t.type << ":\n" << dump(issues);
      EXPECT_EQ(issues[0].severity, catalog().unknown_fields);
      EXPECT_NE(issues[0].message.find("\"no_such_field\""), std::string::npos)
          << issues[0].message;
    }
}

TEST(Catalog, NestedFields) {
  for (const Kind& k : kinds())
    for (const TypeSpec& t : *k.types)
      for (const FieldSpec& f : t.fields) {
        if (f.fields.empty()) continue;
        // The nested value to edit: the object, or the first item of the list.
        auto nested = [&](Json& c) -> Json& { return f.kind == "list" ? c[f.name][0] : c[f.name]; };
        for (const FieldSpec& sub : f.fields) {
          ASSERT_FALSE(sub.example.is_null()) << f.name << "." << sub.name;
          Json config = with_field(t, f);
          nested(config)[sub.name] = sub.example;
          auto ok = issues_of(k.name, t.type, config);
          EXPECT_TRUE(ok.empty()) << t.type << "." << f.name << "." << sub.name << ":\n"
                                  << dump(ok);
          if (sub.required) {
            nested(config).erase(sub.name);
            EXPECT_GE(count(issues_of(k.name, t.type, config), "error"), 1)
                << t.type << "." << f.name << " without " << sub.name;
          }
        }
        Json config = with_field(t, f);
        nested(config)["no_such_member"] = 1;
        auto issues = issues_of(k.name, t.type, config);
        ASSERT_EQ(issues.size(), 1u) << t.type << "." << f.name << ":\n" << dump(issues);
        EXPECT_EQ(issues[0].severity, catalog().unknown_fields);
        if (f.kind == "list" && f.min_items > 0) {
          Json empty = with_field(t, f);
          empty[f.name] = Json::array();
          EXPECT_GE(count(issues_of(k.name, t.type, empty), "error"), 1)
              << t.type << "." << f.name << " empty";
        }
      }
}

TEST(Catalog, BranchesAreTheValidatorsBranches) {
  for (const TypeSpec& t : catalog().steps) {
    StepType type = *parse_step_type(t.type);
    EXPECT_EQ(catalog_branches(t, t.example), allowed_branches(type, t.example)) << t.type;
    Json renamed = t.example;
    if (!t.branches.from_field.empty()) {
      renamed[t.branches.from_field][0][t.branches.name_member] = "renamed";
      EXPECT_EQ(catalog_branches(t, renamed), allowed_branches(type, renamed)) << t.type;
    }
    // Every branch the catalog names may be connected without an error.
    Json def = journey_with("steps", t.type, t.example);
    Json branches = Json::object();
    for (const std::string& b : catalog_branches(t, t.example)) branches[b] = "end";
    def["steps"][0]["branches"] = branches;
    def["steps"].push_back({{"key", "end"}, {"type", "exit"}});
    Env e;
    for (const Issue& i : validate_journey(def, e.env))
      EXPECT_NE(i.severity, "error") << t.type << ": " << i.message;
    def["steps"][0]["branches"]["no_such_branch"] = "end";
    int errors = 0;
    for (const Issue& i : validate_journey(def, e.env)) errors += i.severity == "error";
    EXPECT_EQ(errors, 1) << t.type;
  }
}

TEST(Catalog, Settings) {
  Env e;
  const Catalog& c = catalog();
  auto issues = [&](const Json& s) { return validate_settings(s, e.env); };
  // A bound as JSON of the field's kind (an integer field wants an integer).
  auto num = [](const FieldSpec& f, double v) {
    return f.kind == "integer" ? Json(static_cast<int64_t>(v)) : Json(v);
  };
  for (const FieldSpec& f : c.settings) {
    ASSERT_FALSE(f.example.is_null()) << f.name;
    EXPECT_TRUE(issues({{f.name, f.example}}).empty()) << f.name << ":\n"
                                                       << dump(issues({{f.name, f.example}}));
    if (!f.default_value.is_null()) {
      EXPECT_TRUE(issues({{f.name, f.default_value}}).empty()) << f.name << " default";
    }
    for (const std::string& v : f.allowed)
      EXPECT_TRUE(issues({{f.name, v}}).empty()) << f.name << " = " << v;
    if (f.kind == "enum") {
      EXPECT_EQ(count(issues({{f.name, "no-such-value"}}), "error"), 1);
    }
    if (f.minimum) {
      double below = f.exclusive_minimum ? *f.minimum : *f.minimum - 1;
      EXPECT_EQ(count(issues({{f.name, num(f, below)}}), "error"), 1) << f.name << " below minimum";
      if (!f.exclusive_minimum) {
        EXPECT_TRUE(issues({{f.name, num(f, *f.minimum)}}).empty()) << f.name << " at minimum";
      }
    }
    if (f.maximum && f.kind != "object") {
      double above = f.exclusive_maximum ? *f.maximum : *f.maximum + 1;
      EXPECT_EQ(count(issues({{f.name, num(f, above)}}), "error"), 1) << f.name << " above maximum";
      if (!f.exclusive_maximum) {
        EXPECT_TRUE(issues({{f.name, num(f, *f.maximum)}}).empty()) << f.name << " at maximum";
      }
    }
    for (const FieldSpec& sub : f.fields) {
      Json s = {{f.name, f.example}};
      s[f.name][sub.name] = sub.example;
      EXPECT_TRUE(issues(s).empty()) << f.name << "." << sub.name << ":\n" << dump(issues(s));
      for (const std::string& v : sub.allowed) {
        s[f.name][sub.name] = v;
        EXPECT_TRUE(issues(s).empty()) << f.name << "." << sub.name << " = " << v;
      }
      if (sub.required) {
        s[f.name].erase(sub.name);
        EXPECT_GE(count(issues(s), "error"), 1) << f.name << " without " << sub.name;
      }
      if (sub.minimum) {
        Json low = {{f.name, f.example}};
        low[f.name][sub.name] = num(sub, *sub.minimum - 1);
        EXPECT_GE(count(issues(low), "error"), 1) << f.name << "." << sub.name << " below minimum";
      }
    }
  }
  auto unknown = issues({{"no_such_setting", 1}});
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_EQ(unknown[0].severity, c.unknown_fields);
}

TEST(Catalog, Json) {
  Json j = catalog_json();
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["steps"].size(), 12u);
  EXPECT_EQ(j["entry_triggers"].size(), 5u);
  EXPECT_EQ(j["exit_rules"].size(), 2u);
  const Json& delay = j["steps"][2];
  EXPECT_EQ(delay["type"], "delay");
  EXPECT_EQ(delay["fields"][0]["name"], "duration");
  EXPECT_EQ(delay["fields"][0]["kind"], "duration");
  EXPECT_EQ(delay["fields"][0]["required"], false);
  EXPECT_EQ(delay["exactly_one_of"], Json::parse(R"([["duration", "until", "until_field"]])"));
  EXPECT_EQ(delay["branches"], Json::parse(R"({"fixed": ["next"]})"));
  EXPECT_EQ(j["steps"][6]["branches"],
            Json::parse(R"({"from_field": "cases", "name_member": "name", "extra": ["else"]})"));
  EXPECT_EQ(j["steps"][11]["branches"], Json::parse(R"({"none": true})"));
  EXPECT_EQ(j["settings"][0]["allowed"], Json::parse(R"(["never", "after_exit", "always"])"));
  EXPECT_EQ(j["steps"][1]["fields"][1]["channel_field"], "channel");
  EXPECT_EQ(j["steps"][0]["fields"][0]["channel"], "email");
  EXPECT_NE(find_type("entry_triggers", "date"), nullptr);
  EXPECT_EQ(find_type("steps", "teleport"), nullptr);
}

}  // namespace PGJ_UNIT_ID
