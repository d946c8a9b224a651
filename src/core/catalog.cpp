// The catalog of step types, entry triggers, exit rules and settings; see the
// header. Every fact here is checked against the validator by
// test/unit/catalog_test.cpp.
#include "core/catalog.hpp"

#include "core/column_class.hpp"

#include <utility>

namespace pgj::core {

namespace {

// A spec built by chained setters: set(member, value) is each setter's body.
template <typename Self, typename Spec>
struct Builder {
  Spec s;
  template <typename M, typename V>
  Self& set(M& member, V&& value) {
    member = std::forward<V>(value);
    return static_cast<Self&>(*this);
  }
  operator Spec() const { return s; }
};

// A field of `kind` named `name`; the setters below refine it.
struct F : Builder<F, FieldSpec> {
  F(std::string name, std::string kind, std::string label, std::string help) {
    s.name = std::move(name);
    s.kind = std::move(kind);
    s.label = std::move(label);
    s.help = std::move(help);
  }
  F& req() { return set(s.required, true); }
  F& allowed(std::vector<std::string> v) { return set(s.allowed, std::move(v)); }
  F& suggest(std::vector<std::string> v) { return set(s.suggestions, std::move(v)); }
  F& def(Json v) { return set(s.default_value, std::move(v)); }
  F& ph(std::string v) { return set(s.placeholder, std::move(v)); }
  F& range(std::optional<double> lo, std::optional<double> hi, bool excl_lo = false,
           bool excl_hi = false) {
    s.minimum = lo;
    s.maximum = hi;
    s.exclusive_minimum = excl_lo;
    return set(s.exclusive_maximum, excl_hi);
  }
  F& columns(std::vector<std::string> v) { return set(s.column_types, std::move(v)); }
  F& channel(std::string v) { return set(s.channel, std::move(v)); }
  F& scope(bool columns, bool event, bool context, bool trigger_ops, bool behaviour) {
    return set(s.scope, ConditionScopeSpec{columns, event, context, trigger_ops, behaviour});
  }
  F& fields(std::vector<FieldSpec> v) { return set(s.fields, std::move(v)); }
  F& items(std::string kind, int min_items) {
    s.item_kind = std::move(kind);
    return set(s.min_items, min_items);
  }
  F& min_items(int n) { return set(s.min_items, n); }
  F& needs(std::vector<std::string> v) { return set(s.requires_fields, std::move(v)); }
  F& example(Json v) { return set(s.example, std::move(v)); }
};

// A step type, entry trigger or exit rule `type`; the setters below refine it.
struct T : Builder<T, TypeSpec> {
  T(std::string type, std::string label, std::string category, std::string help) {
    s.type = std::move(type);
    s.label = std::move(label);
    s.category = std::move(category);
    s.help = std::move(help);
  }
  T& fields(std::vector<FieldSpec> v) { return set(s.fields, std::move(v)); }
  T& exactly_one_of(std::vector<std::vector<std::string>> v) {
    return set(s.exactly_one_of, std::move(v));
  }
  T& waits() { return set(s.waits, true); }
  // Its ways out: named (fixed), or the items of a list field (branch_field)
  // named by a member of each item (branch_name), plus extra_branches; or none.
  T& fixed(std::vector<std::string> v) { return set(s.branches.fixed, std::move(v)); }
  T& branch_field(std::string v) { return set(s.branches.from_field, std::move(v)); }
  T& branch_name(std::string v) { return set(s.branches.name_member, std::move(v)); }
  T& extra_branches(std::vector<std::string> v) { return set(s.branches.extra, std::move(v)); }
  T& no_way_out() { return set(s.branches.none, true); }
  T& example(Json v) { return set(s.example, std::move(v)); }
};

const std::vector<std::string>& kColumnTypes = column_categories();

// The fields every step has, and the steps that send messages.
void add_message_steps(Catalog& c) {
  c.common_step_fields = {
      F("description", "text", "Description", "A note for authors; the engine ignores it.")
          .example("Sent right after sign-up")};

  c.steps.push_back(
      T("send_email", "Send email", "message",
        "Writes an e-mail rendered from a template to the outbox (journey.messages).")
          .fields({F("template", "template", "Template", "The e-mail template to render.")
                       .req()
                       .channel("email")
                       .ph("welcome")
                       .example("welcome"),
                   F("to_field", "column", "Send to column",
                     "A text column with the address; default: the audience's e-mail column.")
                       .columns({"text"})
                       .ph("email")
                       .example("email")})
          .fixed({"next"})
          .example({{"template", "welcome"}}));
  c.steps.push_back(
      T("send", "Send message", "message",
        "Writes a message on another channel (sms, push, webhook, in_app, ...) to the "
        "outbox, from a template or an inline payload.")
          .fields(
              {F("channel", "string", "Channel", "The channel a sender claims the message from.")
                   .req()
                   .suggest({"sms", "push", "webhook", "in_app"})
                   .ph("sms")
                   .example("sms"),
               F("template", "template", "Template", "A template of the step's channel.")
                   .channel("field:channel")
                   .ph("sms_hi")
                   .example("sms_hi"),
               F("payload", "json", "Payload",
                 "An inline JSON object; its strings may use {{merge_tags}}.")
                   .ph("{\"text\": \"Hi {{first_name}}\"}")
                   .example(Json{{"text", "Hi {{first_name}}"}})})
          .exactly_one_of({{"template", "payload"}})
          .fixed({"next"})
          .example({{"channel", "sms"}, {"template", "sms_hi"}}));
}

// The steps that wait: delay, wait_for_event, wait_until.
void add_timing_steps(Catalog& c) {
  c.steps.push_back(
      T("delay", "Delay", "timing",
        "Waits for a length of time, until a time of day (on given weekdays), or until a "
        "date column plus an offset.")
          .waits()
          .fields({F("duration", "duration", "Wait for", "How long to wait, e.g. \"2 days\".")
                       .ph("2 days")
                       .def("1 day")
                       .example("2 days"),
                   F("until", "object", "Until a time of day",
                     "Waits until the next time of day (on the given weekdays).")
                       .fields({F("time", "time", "Time", "Time of day, 24-hour clock.")
                                    .req()
                                    .ph("09:00")
                                    .example("09:00"),
                                F("days", "list", "Weekdays",
                                  "Only on these weekdays (default: every day).")
                                    .items("enum", 1)
                                    .allowed({"mon", "tue", "wed", "thu", "fri", "sat", "sun"})
                                    .example(Json::array({"mon", "fri"})),
                                F("timezone", "timezone", "Time zone",
                                  "The customer's zone (\"customer\") or a zone name; default: the "
                                  "journey's.")
                                    .allowed({"customer"})
                                    .ph("customer")
                                    .example("customer")})
                       .example(Json{{"time", "09:00"}}),
                   F("until_field", "column", "Until the date in column",
                     "Waits until the date or time this column holds (plus the offset).")
                       .columns({"timestamp", "date"})
                       .ph("signed_up_at")
                       .example("signed_up_at"),
                   F("offset", "duration", "Offset",
                     "Added to the column's date; may be negative (\"-1 day\").")
                       .needs({"until_field"})
                       .ph("-1 day")
                       .example("-1 day")})
          .exactly_one_of({{"duration", "until", "until_field"}})
          .fixed({"next"})
          .example({{"duration", "2 days"}}));
  c.steps.push_back(
      T("wait_for_event", "Wait for event", "timing",
        "Waits until the customer performs an event (leaves by \"event\"), or the timeout "
        "passes (leaves by \"timeout\").")
          .waits()
          .fields({F("event", "event", "Event", "The event name journey.track() records.")
                       .req()
                       .ph("email_opened")
                       .example("email_opened"),
                   F("where", "condition", "Only events where",
                     "A condition on the event's properties (event.<name>) or the context.")
                       .scope(false, true, true, false, false)
                       .example(Json{{"field", "event.cart_id"}, {"op", "exists"}}),
                   F("timeout", "duration", "Timeout", "Give up after this long.")
                       .ph("3 days")
                       .example("3 days"),
                   F("message_of", "string", "Message of step",
                     "Only engagement (opened, clicked, ...) with the message this send step "
                     "sent the customer counts; it must come before the wait.")
                       .ph("invite")
                       .example("invite")})
          .fixed({"event", "timeout"})
          .example({{"event", "email_opened"}, {"timeout", "3 days"}}));
  c.steps.push_back(
      T("wait_until", "Wait until", "timing",
        "Waits until the customer row matches a condition (re-checked whenever it changes; "
        "leaves by \"met\"), or the timeout passes (\"timeout\").")
          .waits()
          .fields({F("when", "condition", "Condition", "A condition on the customer row.")
                       .req()
                       .scope(true, false, true, false, false)
                       .example(Json{{"field", "plan"}, {"op", "eq"}, {"value", "pro"}}),
                   F("timeout", "duration", "Timeout", "Give up after this long.")
                       .ph("7 days")
                       .example("7 days")})
          .fixed({"met", "timeout"})
          .example({{"when", {{"field", "plan"}, {"op", "eq"}, {"value", "pro"}}}}));
}

// The steps that choose a way: condition, branch, split.
void add_branching_steps(Catalog& c) {
  c.steps.push_back(
      T("condition", "Condition", "logic", "Checks a condition now: leaves by \"yes\" or \"no\".")
          .fields({F("if", "condition", "If", "Customer columns, context, event and behaviour.")
                       .req()
                       .scope(true, true, true, false, true)
                       .example(Json{{"field", "plan"}, {"op", "eq"}, {"value", "pro"}})})
          .fixed({"yes", "no"})
          .example({{"if", {{"field", "plan"}, {"op", "eq"}, {"value", "pro"}}}}));
  c.steps.push_back(
      T("branch", "Branch", "logic", "Takes the first case whose condition holds, or \"else\".")
          .fields(
              {F("cases", "list", "Cases", "Checked in order; each case is a way out.")
                   .req()
                   .min_items(1)
                   .fields({F("name", "string", "Name", "The branch name (not \"else\").")
                                .req()
                                .ph("pro")
                                .example("pro"),
                            F("when", "condition", "When", "The case's condition.")
                                .req()
                                .scope(true, true, true, false, true)
                                .example(Json{{"field", "plan"}, {"op", "eq"}, {"value", "pro"}})})
                   .example(Json::array(
                       {{{"name", "pro"},
                         {"when", {{"field", "plan"}, {"op", "eq"}, {"value", "pro"}}}}}))})
          .branch_field("cases")
          .branch_name("name")
          .extra_branches({"else"})
          .example(
              {{"cases",
                Json::array({{{"name", "pro"},
                              {"when", {{"field", "plan"}, {"op", "eq"}, {"value", "pro"}}}}})}}));
  c.steps.push_back(
      T("split", "A/B split", "logic",
        "Sends each customer down one variant by weight; the same customer always gets the "
        "same variant.")
          .fields(
              {F("variants", "list", "Variants", "Each variant is a way out.")
                   .req()
                   .min_items(1)
                   .fields(
                       {F("name", "string", "Name", "The branch name.").req().ph("a").example("a"),
                        F("weight", "number", "Weight", "Relative share of customers.")
                            .req()
                            .range(0, std::nullopt, true)
                            .def(50)
                            .example(50)})
                   .example(Json::array(
                       {{{"name", "a"}, {"weight", 50}}, {{"name", "b"}, {"weight", 50}}}))})
          .branch_field("variants")
          .branch_name("name")
          .example({{"variants", Json::array({{{"name", "a"}, {"weight", 50}},
                                              {{"name", "b"}, {"weight", 50}}})}}));
}

// The steps that act or end: update_field, call, goal, exit.
void add_action_steps(Catalog& c) {
  c.steps.push_back(
      T("update_field", "Update field", "data",
        "Sets columns of the customer row: JSON values, or {\"now\": true} for the time.")
          .fields({F("set", "assignments", "Set", "Columns and their new values.")
                       .req()
                       .example(Json{{"plan", "pro"}})})
          .fixed({"next"})
          .example({{"set", {{"plan", "pro"}}}}));
  c.steps.push_back(
      T("call", "Call function", "data",
        "Calls a SQL function (customer_id text, context jsonb) returns jsonb; the result "
        "merges into the enrollment's context.")
          .fields(
              {F("function", "function", "Function", "A function the journey's owner may execute.")
                   .req()
                   .ph("public.score_customer")
                   .example("public.score_customer"),
               F("simulate_result", "json", "Result in a simulation",
                 "What journey.simulate merges into the context instead of calling the "
                 "function (it never calls it); none: the context stays as it is.")
                   .example(Json{{"score", 50}})})
          .fixed({"next"})
          .example({{"function", "public.score_customer"}}));
  c.steps.push_back(T("goal", "Goal", "end",
                      "Marks the enrollment converted, then goes on by \"next\" (or ends).")
                        .fixed({"next"})
                        .example(Json::object()));
  c.steps.push_back(T("exit", "Exit", "end", "Ends the enrollment (completed).")
                        .no_way_out()
                        .example(Json::object()));
}

// The fields of an event entry trigger and an event exit rule: the event's
// name, and a condition on its properties.
F event_name(const std::string& example) {
  return F("event", "event", "Event", "The event name.").req().ph(example).example(example);
}
F event_where(Json example) {
  return F("where", "condition", "Only events where", "A condition on event.<property>.")
      .scope(false, true, false, false, false)
      .example(std::move(example));
}

// Entry triggers.
void add_entry_triggers(Catalog& c) {
  c.entry_triggers.push_back(
      T("event", "Event", "", "Enrolls the customer when journey.track() records the event.")
          .fields({event_name("signed_up"),
                   event_where(Json{{"field", "event.source"}, {"op", "eq"}, {"value", "web"}})})
          .example({{"event", "signed_up"}}));
  c.entry_triggers.push_back(
      T("attribute", "Attribute change", "",
        "Enrolls the customer when an INSERT or UPDATE of their row makes the condition "
        "true (it was false before).")
          .fields({F("when", "condition", "When",
                     "A condition on the customer row; may use "
                     "changed and changed_to.")
                       .req()
                       .scope(true, false, false, true, false)
                       .example(Json{{"field", "plan"}, {"op", "changed_to"}, {"value", "pro"}})})
          .example({{"when", {{"field", "plan"}, {"op", "changed_to"}, {"value", "pro"}}}}));
  const FieldSpec schedule = F("schedule", "cron", "Schedule", "A pg_cron schedule.")
                                 .req()
                                 .suggest({"@daily", "@hourly", "0 9 * * *"})
                                 .ph("0 9 * * *")
                                 .example("0 9 * * *");
  c.entry_triggers.push_back(
      T("segment", "Segment", "",
        "On a schedule, enrolls customers who newly match a condition or a SQL query "
        "returning customer keys.")
          .fields({schedule,
                   F("when", "condition", "Customers where", "A condition on the customer row.")
                       .scope(true, false, false, false, false)
                       .example(Json{{"field", "plan"}, {"op", "eq"}, {"value", "pro"}}),
                   F("query", "sql", "Query", "SQL returning the keys of the customers to enroll.")
                       .ph("SELECT id FROM customers WHERE ...")
                       .example("SELECT id FROM public.customers")})
          .exactly_one_of({{"when", "query"}})
          .example({{"schedule", "0 9 * * *"},
                    {"when", {{"field", "plan"}, {"op", "eq"}, {"value", "pro"}}}}));
  c.entry_triggers.push_back(
      T("date", "Date", "",
        "On a schedule, enrolls customers whose date column plus the offset falls due "
        "(trial ends, birthdays).")
          .fields({schedule,
                   F("field", "column", "Date column", "A timestamp or date column.")
                       .req()
                       .columns({"timestamp", "date"})
                       .ph("birthday")
                       .example("birthday"),
                   F("offset", "duration", "Offset", "Added to the date; may be negative.")
                       .ph("-3 days")
                       .example("-3 days"),
                   F("recurring", "enum", "Recurring", "\"yearly\": every anniversary of the date.")
                       .allowed({"yearly"})
                       .example("yearly")})
          .example({{"schedule", "0 9 * * *"}, {"field", "birthday"}}));
  c.entry_triggers.push_back(
      T("manual", "Manual", "",
        "Only journey.enroll() and journey.enroll_query() (and journeyctl enroll) enroll.")
          .example(Json::object()));
}

// Exit rules.
void add_exit_rules(Catalog& c) {
  const FieldSpec is_goal =
      F("is_goal", "boolean", "Counts as a conversion", "The customer is marked converted.")
          .def(false)
          .example(true);
  const FieldSpec rule_name =
      F("name", "string", "Name",
        "What the exit reason of the enrollments this rule ends says (unnamed: exit rule exit[N]).")
          .ph("unsubscribed")
          .example("unsubscribed");
  c.exit_rules.push_back(
      T("event", "Event", "", "Ends the enrollment when the customer performs the event.")
          .fields({event_name("purchased"),
                   event_where(Json{{"field", "event.total"}, {"op", "gt"}, {"value", 0}}), is_goal,
                   rule_name})
          .example({{"event", "purchased"}}));
  c.exit_rules.push_back(
      T("condition", "Condition", "",
        "Ends the enrollment as soon as the customer row matches (checked when the row "
        "changes and before each step).")
          .fields({F("when", "condition", "When", "A condition on the customer row.")
                       .req()
                       .scope(true, false, false, false, false)
                       .example(Json{{"field", "unsubscribed"}, {"op", "eq"}, {"value", true}}),
                   is_goal, rule_name})
          .example({{"when", {{"field", "unsubscribed"}, {"op", "eq"}, {"value", true}}}}));
}

// Journey settings.
void add_settings(Catalog& c) {
  c.settings = {
      F("reentry", "enum", "Re-entry", "Whether a customer may enter the journey again.")
          .allowed({"never", "after_exit", "always"})
          .def("never")
          .example("after_exit"),
      F("reentry_cooldown", "duration", "Re-entry cooldown",
        "Minimum time between two entries of the same customer.")
          .ph("30 days")
          .example("30 days"),
      F("timezone", "timezone", "Time zone", "The journey's zone for times of day.")
          .def("UTC")
          .ph("Europe/Paris")
          .example("UTC"),
      F("quiet_hours", "object", "Quiet hours", "No message leaves between start and end.")
          .fields({F("start", "time", "Start", "Start of the quiet period.")
                       .req()
                       .ph("21:00")
                       .example("21:00"),
                   F("end", "time", "End", "End of the quiet period.")
                       .req()
                       .ph("08:00")
                       .example("08:00"),
                   F("timezone", "timezone", "Time zone",
                     "\"customer\" or a zone name; default: the journey's.")
                       .allowed({"customer"})
                       .example("customer")})
          .example(Json{{"start", "21:00"}, {"end", "08:00"}}),
      F("frequency_cap", "object", "Frequency cap",
        "At most `max` messages per customer per period, across journeys.")
          .fields(
              {F("max", "integer", "Max messages", "Messages per period.")
                   .req()
                   .range(1, 2147483648.0)
                   .ph("3")
                   .example(3),
               F("per", "duration", "Period", "The period.").req().ph("1 day").example("1 day")})
          .example(Json{{"max", 3}, {"per", "1 day"}}),
      F("holdout_percent", "number", "Holdout percent",
        "Share of customers who travel the journey without messages (control group).")
          .range(0, 100, false, true)
          .ph("10")
          .example(10),
      F("max_attempts", "integer", "Max attempts",
        "Attempts of a failing step before the enrollment fails.")
          .range(1, 100)
          .def(5)
          .example(3),
      F("max_step_visits", "integer", "Max step visits",
        "Step visits per enrollment before it fails (stops runaway loops).")
          .range(1, 100000)
          .def(1000)
          .example(500),
      F("transactional", "boolean", "Transactional",
        "Messages of this journey (receipts, password resets) still reach customers who "
        "unsubscribed; complaints and hard bounces still stop them.")
          .def(false)
          .example(true),
      F("entity_property", "string", "Entity property",
        "An event property (say cart_id): one enrollment per entity instead of per customer.")
          .ph("cart_id")
          .example("cart_id"),
  };
}

// Condition operators.
void add_condition_ops(Catalog& c) {
  c.condition_ops = {
      {"eq", "equals", "scalar", false, {}},
      {"ne", "does not equal", "scalar", false, {}},
      {"lt", "is less than", "scalar", false, {"int", "float", "text", "timestamp", "date"}},
      {"lte", "is at most", "scalar", false, {"int", "float", "text", "timestamp", "date"}},
      {"gt", "is greater than", "scalar", false, {"int", "float", "text", "timestamp", "date"}},
      {"gte", "is at least", "scalar", false, {"int", "float", "text", "timestamp", "date"}},
      {"in", "is one of", "list", false, {}},
      {"not_in", "is none of", "list", false, {}},
      {"contains", "contains", "any", false, {"text", "json"}},
      {"starts_with", "starts with", "scalar", false, {"text"}},
      {"exists", "is set", "none", false, {}},
      {"not_exists", "is not set", "none", false, {}},
      {"changed", "changed", "none", true, {}},
      {"changed_to", "changed to", "scalar", true, {}},
      {"within", "is within the last", "duration", false, {"timestamp", "date"}},
  };
}

// Builds the catalog (once).
Catalog build() {
  Catalog c;
  add_message_steps(c);
  add_timing_steps(c);
  add_branching_steps(c);
  add_action_steps(c);
  add_entry_triggers(c);
  add_exit_rules(c);
  add_settings(c);
  add_condition_ops(c);
  return c;
}

// JSON of a field.
Json field_json(const FieldSpec& f) {
  Json j = {{"name", f.name},
            {"kind", f.kind},
            {"required", f.required},
            {"label", f.label},
            {"help", f.help}};
  if (!f.allowed.empty()) j["allowed"] = f.allowed;
  if (!f.suggestions.empty()) j["suggestions"] = f.suggestions;
  if (!f.default_value.is_null()) j["default"] = f.default_value;
  if (!f.placeholder.empty()) j["placeholder"] = f.placeholder;
  if (f.minimum) j[f.exclusive_minimum ? "exclusive_minimum" : "minimum"] = *f.minimum;
  if (f.maximum) j[f.exclusive_maximum ? "exclusive_maximum" : "maximum"] = *f.maximum;
  if (!f.column_types.empty()) j["column_types"] = f.column_types;
  if (f.kind == "column" && f.column_types.empty()) j["column_types"] = kColumnTypes;
  if (!f.channel.empty()) {
    if (f.channel.rfind("field:", 0) == 0)
      j["channel_field"] = f.channel.substr(6);
    else
      j["channel"] = f.channel;
  }
  if (f.kind == "condition")
    j["scope"] = {{"columns", f.scope.columns},
                  {"event", f.scope.event},
                  {"context", f.scope.context},
                  {"trigger_ops", f.scope.trigger_ops},
                  {"behaviour", f.scope.behaviour}};
  if (!f.fields.empty()) {
    Json fs = Json::array();
    for (const FieldSpec& sub : f.fields) fs.push_back(field_json(sub));
    j["fields"] = fs;
  }
  if (!f.item_kind.empty()) j["item_kind"] = f.item_kind;
  if (f.kind == "list") j["min_items"] = f.min_items;
  if (!f.requires_fields.empty()) j["requires"] = f.requires_fields;
  if (!f.example.is_null()) j["example"] = f.example;
  return j;
}

// JSON of a type.
Json type_json(const TypeSpec& t, bool is_step) {
  Json j = {{"type", t.type}, {"label", t.label}, {"help", t.help}};
  if (!t.category.empty()) j["category"] = t.category;
  Json fs = Json::array();
  for (const FieldSpec& f : t.fields) fs.push_back(field_json(f));
  j["fields"] = fs;
  j["exactly_one_of"] = t.exactly_one_of;
  if (is_step) {
    Json b = Json::object();
    if (t.branches.none) {
      b["none"] = true;
    } else if (!t.branches.from_field.empty()) {
      b["from_field"] = t.branches.from_field;
      b["name_member"] = t.branches.name_member;
      b["extra"] = t.branches.extra;
    } else {
      b["fixed"] = t.branches.fixed;
    }
    j["branches"] = b;
    j["waits"] = t.waits;
  }
  j["example"] = t.example;
  return j;
}

}  // namespace

// The catalog, built on first use.
const Catalog& catalog() {
  static const Catalog c = build();
  return c;
}

// The catalog as JSON; see the header.
Json catalog_json() {
  const Catalog& c = catalog();
  Json j = {{"version", c.version}, {"unknown_fields", c.unknown_fields}};
  for (const auto& [name, list, is_step] :
       {std::tuple<const char*, const std::vector<TypeSpec>*, bool>{"steps", &c.steps, true},
        {"entry_triggers", &c.entry_triggers, false},
        {"exit_rules", &c.exit_rules, false}}) {
    Json a = Json::array();
    for (const TypeSpec& t : *list) a.push_back(type_json(t, is_step));
    j[name] = a;
  }
  Json common = Json::array();
  for (const FieldSpec& f : c.common_step_fields) common.push_back(field_json(f));
  j["common_step_fields"] = common;
  Json settings = Json::array();
  for (const FieldSpec& f : c.settings) settings.push_back(field_json(f));
  j["settings"] = settings;
  Json ops = Json::array();
  for (const OpSpec& o : c.condition_ops) {
    Json op = {
        {"op", o.op}, {"label", o.label}, {"value", o.value}, {"trigger_only", o.trigger_only}};
    if (!o.column_types.empty()) op["column_types"] = o.column_types;
    ops.push_back(op);
  }
  j["condition_ops"] = ops;
  j["column_types"] = kColumnTypes;
  return j;
}

// Looks a type up by kind and name; see the header.
const TypeSpec* find_type(const std::string& kind, const std::string& type) {
  const Catalog& c = catalog();
  const std::vector<TypeSpec>* list = kind == "steps"            ? &c.steps
                                      : kind == "entry_triggers" ? &c.entry_triggers
                                      : kind == "exit_rules"     ? &c.exit_rules
                                                                 : nullptr;
  if (!list) return nullptr;
  for (const TypeSpec& t : *list)
    if (t.type == type) return &t;
  return nullptr;
}

// Branch names of a step from its catalog entry; see the header.
std::vector<std::string> catalog_branches(const TypeSpec& t, const Json& config) {
  std::vector<std::string> out;
  if (t.branches.none) return out;
  if (t.branches.from_field.empty()) return t.branches.fixed;
  auto it = config.is_object() ? config.find(t.branches.from_field) : config.end();
  if (config.is_object() && it != config.end() && it->is_array()) {
    for (const Json& item : *it) {
      if (!item.is_object()) continue;
      auto n = item.find(t.branches.name_member);
      if (n == item.end() || !n->is_string() || n->get_ref<const std::string&>().empty()) continue;
      const std::string& name = n->get_ref<const std::string&>();
      bool dup = false;
      for (const std::string& o : out) dup = dup || o == name;
      if (!dup) out.push_back(name);
    }
  }
  for (const std::string& e : t.branches.extra) out.push_back(e);
  return out;
}

}  // namespace pgj::core
