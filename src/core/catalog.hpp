// The catalog: a machine-readable description of every step type, entry
// trigger type, exit rule type and journey setting (their fields, kinds,
// whether they are required, allowed values, defaults, help text, and the
// branches a step type leaves by). The builder generates its forms from it
// (journey.catalog() in SQL); test/unit/catalog_test.cpp holds it against the
// validator, which is meant to read it too.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/json.hpp"

namespace pgj::core {

// What a field holds, which decides how it is checked and edited. Kinds:
//   string     a non-empty string (free text)
//   text       free text on several lines (descriptions)
//   integer, number, boolean
//   enum       one of `allowed`
//   duration   "2 days", "90 minutes" (durations of core/duration.hpp)
//   time       a time of day "09:00"
//   timezone   a time zone name (`allowed` lists extra words such as "customer")
//   condition  a condition (SPEC section 5); `scope` says what it may read
//   template   a message template name, for `channel` (or the channel field's value)
//   column     a column of the audience table, of one of `column_types`
//   event      an event name
//   function   a SQL function (customer_id text, context jsonb) returns jsonb
//   cron       a pg_cron schedule "0 9 * * *"
//   sql        a SQL query
//   object     an object with `fields`
//   list       an array; each item an object with `fields`, or, without fields,
//              a value of `item_kind` (one of `allowed` when given)
//   assignments an object {column: value} setting audience columns
//   json       any JSON object
struct ConditionScopeSpec {
  bool columns = true;       // audience columns by name
  bool event = false;        // event.<property>
  bool context = false;      // context.<key>
  bool trigger_ops = false;  // changed, changed_to
  bool behaviour = false;    // behaviour leaves {"event", "step", "happened", "within"}
};

struct FieldSpec {
  std::string name;
  std::string kind;
  bool required = false;
  std::string label;                      // short human name
  std::string help;                       // one sentence for a form
  std::vector<std::string> allowed;       // enum values (or list items' values)
  std::vector<std::string> suggestions;   // common values of a free field
  Json default_value;                     // null: none
  std::string placeholder;                // an example value shown in empty inputs
  std::optional<double> minimum;          // integer / number
  std::optional<double> maximum;          // integer / number
  bool exclusive_minimum = false;         // minimum itself is not allowed
  bool exclusive_maximum = false;         // maximum itself is not allowed
  std::vector<std::string> column_types;  // column: bool, int, float, text, timestamp, date, json
  std::string channel;                    // template: the channel, or "field:<name>"
  ConditionScopeSpec scope;               // condition
  std::vector<FieldSpec> fields;          // object; list items that are objects
  std::string item_kind;                  // list of values
  int min_items = 0;                      // list
  std::vector<std::string> requires_fields;  // only valid when these are present
  Json example;                              // a valid value (null: none)
};

// Where a step's branches come from: fixed names, or the `name` of each item
// of a list field (plus fixed extras such as "else").
struct BranchSpec {
  std::vector<std::string> fixed;  // e.g. {"next"}, {"event", "timeout"}
  std::string from_field;          // e.g. "cases", "variants"
  std::string name_member;         // e.g. "name"
  std::vector<std::string> extra;  // e.g. {"else"}
  bool none = false;               // the step has no way out (exit)
};

// One step type, entry trigger type or exit rule type.
struct TypeSpec {
  std::string type;
  std::string label;
  std::string category;  // steps: message, timing, logic, data, end
  std::string help;
  std::vector<FieldSpec> fields;
  std::vector<std::vector<std::string>> exactly_one_of;  // groups: exactly one member present
  BranchSpec branches;                                   // steps only
  bool waits = false;  // parks the enrollment (every cycle needs one)
  Json example;        // a valid config (without "type")
};

// A condition operator.
struct OpSpec {
  std::string op;
  std::string label;
  std::string value;                      // none, scalar, list, duration, any
  bool trigger_only = false;              // changed / changed_to: attribute entry triggers only
  std::vector<std::string> column_types;  // types it applies to (empty: any)
};

struct Catalog {
  int version = 1;
  std::vector<TypeSpec> steps;
  std::vector<TypeSpec> entry_triggers;
  std::vector<TypeSpec> exit_rules;
  std::vector<FieldSpec> settings;
  std::vector<OpSpec> condition_ops;
  // Every member a step config may carry whatever its type.
  std::vector<FieldSpec> common_step_fields;
  // How the validator reports members no field describes.
  std::string unknown_fields = "warning";
};

// The catalog (built once, immutable).
const Catalog& catalog();

// The catalog as JSON (what journey.catalog() returns).
Json catalog_json();

// The type of the given kind ("steps", "entry_triggers", "exit_rules") named
// `type`, or nullptr.
const TypeSpec* find_type(const std::string& kind, const std::string& type);

// The branches a step of spec `t` with this config leaves by (what
// allowed_branches of core/graph.hpp computes), derived from the catalog.
std::vector<std::string> catalog_branches(const TypeSpec& t, const Json& config);

}  // namespace pgj::core
