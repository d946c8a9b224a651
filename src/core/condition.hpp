// Conditions (SPEC section 5): compiled once per published version against the
// audience table (columns resolved, value types checked), then evaluated per
// customer row / event / enrollment without touching PostgreSQL.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/duration.hpp"
#include "core/json.hpp"
#include "core/schema.hpp"

namespace pgj::core {

// A timestamptz / timestamp / date value: micros since 1970-01-01 00:00 UTC
// (a date is its midnight UTC).
struct Timestamp {
  int64_t micros_since_unix_epoch = 0;
  bool operator==(const Timestamp& o) const {
    return micros_since_unix_epoch == o.micros_since_unix_epoch;
  }
};

// Value of one column of a customer row, as converted by the pg layer:
// Bool -> bool, Int -> int64_t, Float -> double, Text -> string,
// Timestamp/Date -> Timestamp, Json -> string (the jsonb text), Other -> string
// (the type's output text), SQL NULL -> monostate.
using Value = std::variant<std::monostate, bool, int64_t, double, std::string, Timestamp>;

// Answers behaviour leaves ({"event": ..., "step": ..., "within": ...}): whether
// the customer of the enrollment being evaluated performed `event` (after a
// visit of `step` when non-empty) within the duration before now (ever when
// nullopt).
struct BehaviourLookup {
  virtual ~BehaviourLookup() = default;
  virtual bool happened(const std::string& event, const std::string& step,
                        std::optional<Duration> within) = 0;
  // Leaves with "message_of": did the message this enrollment's visit of step
  // `message_of` created have engagement `kind` (journey.message_events) within
  // the duration before now (ever when nullopt)? Engagement with any other
  // message never counts.
  virtual bool message_happened(const std::string& /*kind*/, const std::string& /*message_of*/,
                                std::optional<Duration> /*within*/) {
    return false;
  }
};

// The kinds of engagement with a message (journey.message_event, and "failed"
// from journey.complete_message): the events "message_of" may name.
bool is_message_event_kind(const std::string& kind);

// Everything a condition can read. Absent parts read as null/missing.
struct EvalInput {
  const std::vector<Value>* row = nullptr;      // NEW row, indexed like schema->columns
  const std::vector<Value>* old_row = nullptr;  // OLD row (UPDATE), null on INSERT
  const Json* event = nullptr;                  // event properties
  const Json* context = nullptr;                // enrollment context
  int64_t now_micros = 0;                       // engine clock, micros since Unix epoch
  BehaviourLookup* behaviour = nullptr;
};

// Which fields and ops a condition may use where it appears.
struct ConditionScope {
  bool columns = true;
  bool event = false;
  bool context = false;
  bool trigger_ops = false;         // changed / changed_to
  bool behaviour = false;           // behaviour leaves
  const char* where = "condition";  // for messages, e.g. "entry[0] where condition"
};

enum class CondOp {
  Eq,
  Ne,
  Lt,
  Lte,
  Gt,
  Gte,
  In,
  NotIn,
  Contains,
  StartsWith,
  Exists,
  NotExists,
  Changed,
  ChangedTo,
  Within
};

// The op's JSON name ("eq", "not_in", ...).
const char* op_name(CondOp op);
// The op named `name`, or nullopt.
std::optional<CondOp> parse_op(std::string_view name);

enum class FieldSource { Column, Event, Context };

// One node of a compiled condition tree.
struct CondNode {
  enum class Kind { All, Any, Not, Leaf, Behaviour, Invalid };
  Kind kind = Kind::Invalid;
  std::vector<CondNode> children;  // All / Any / Not (one child)

  // Leaf.
  FieldSource source = FieldSource::Column;
  std::string field;  // as written
  int column = -1;    // index into schema->columns (Column source)
  ValueType column_type = ValueType::Other;
  std::vector<std::string> path;  // Event / Context: keys below "event." / "context."
  CondOp op = CondOp::Eq;
  Value value;                // typed constant (Column source)
  std::vector<Value> values;  // in / not_in constants (Column source)
  Json json_value;            // the constant as written (dynamic fields, Json columns)
  int64_t within_micros = 0;  // op within (approximate length)

  // Behaviour leaf.
  std::string event;
  std::string step;
  std::string message_of;  // engagement with the message of this send step (docs/delivery.md)
  bool happened = true;
  std::optional<Duration> within;
};

struct CompiledCondition {
  CondNode root;
  std::vector<int> columns_read;  // sorted, unique column indexes read
  bool uses_event = false;
  bool uses_context = false;
  bool uses_behaviour = false;
  bool uses_trigger_ops = false;  // changed / changed_to (needs the OLD row)
};

struct CompileResult {
  CompiledCondition condition;
  std::vector<std::string> errors;  // every problem found; empty when usable
  bool unknown_column = false;      // one of them: a column the audience does not have
  bool ok() const { return errors.empty(); }
};

// Compiles condition JSON against the audience (schema may be null: column
// fields are then not resolved or type-checked and the result must not be
// evaluated). Never throws; all problems are returned in `errors`.
CompileResult compile_condition(const Json& cond, const AudienceSchema* schema,
                                const ConditionScope& scope);

// Evaluates a compiled condition. Comparisons with a null or missing operand
// are false; mismatched dynamic types compare false. Throws only what the
// BehaviourLookup throws (a PostgreSQL error of a behaviour query, a cancel):
// such an error is never turned into "false".
bool evaluate(const CompiledCondition& cond, const EvalInput& input);

// Value <-> JSON helpers for the pg layer and templates. value_to_json turns a
// Timestamp into its ISO string; value_to_text renders a value for templates
// (nullopt for null).
Json value_to_json(const Value& v);
std::optional<std::string> value_to_text(const Value& v);

// JSON containment like jsonb @>: object key subset (recursively), array
// membership, scalar equality.
bool json_contains(const Json& container, const Json& contained);

// Human name of a value type for messages ("integer", "text", ...).
const char* value_type_name(ValueType t);

}  // namespace pgj::core
