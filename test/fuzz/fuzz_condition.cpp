// Fuzz target: the condition compiler and evaluator (src/core/condition.hpp) and
// the segment SQL renderer (src/core/condition_sql.hpp) on arbitrary JSON.
// The input is compiled against the fixture audience in several scopes; what
// compiles is evaluated against fixture rows, events and contexts (and the input
// itself as event and context, so the fuzzer also shapes the dynamic data).
// Properties: no exception escapes the compiler (it would show up as an
// "invalid condition in ...: <what()>" error); a condition without errors has
// no invalid node and consistent metadata; widening the scope or dropping the
// schema never adds errors; not/all/any wrappers evaluate as logic says; the
// evaluator does not depend on anything but its input; a columns-only
// condition renders to SQL without throwing, with balanced parentheses and
// jsonb literals that are JSON.
#include <cmath>
#include <limits>

#include "core/condition.hpp"
#include "core/condition_sql.hpp"
#include "core/error.hpp"
#include "fuzz_common.hpp"

using namespace pgj::core;
using pgj::fuzz::customers;
using pgj::fuzz::valid_utf8;

namespace {

constexpr int64_t kSec = 1000000;
constexpr int64_t kNow = 1706691600LL * kSec;  // 2024-01-31T09:00:00Z
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
const char* const kWhere = "fuzz input";

// Customer rows in the column order of pgj::fuzz::customers().
std::vector<std::vector<Value>> rows() {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  return {
      {int64_t{42}, std::string("ada@example.com"), std::string("Ada"), std::string("pro"), 91.5,
       int64_t{36}, true, false, Timestamp{kNow + 86400 * kSec}, Timestamp{642902400LL * kSec},
       Timestamp{kNow - 3600 * kSec}, std::string("vip since 2019"),
       std::string(R"({"lang": "en", "tags": ["a", "b"], "n": 1, "nested": {"x": [1, {"y": 2}]}})"),
       std::string("10.0.0.1"), std::string("Europe/Paris")},
      std::vector<Value>(customers().columns.size()),  // every column null
      {kMin, std::string(), std::string(), std::string("\xc3\xa9t\xc3\xa9"), nan, kMax, false, true,
       Timestamp{kMax}, Timestamp{kMin}, Timestamp{0}, std::string("2024-01-31"),
       std::string("not json {"), std::string("::1"), std::string()},
      {int64_t{-1}, std::string("x"), std::string("{{first_name}}"), std::string("free"), -inf,
       int64_t{0}, true, true, Timestamp{kNow}, Timestamp{kNow - kNow % (86400 * kSec)},
       Timestamp{-1}, std::string(), std::string(R"([1, "a", null, true, 2.5])"), std::string(),
       std::string("UTC")},
  };
}

// value_to_text / value_to_json of every fixture value (once: they do not
// depend on the input): text for every non-null value, JSON null only for null.
void check_value_conversions(const std::vector<std::vector<Value>>& rs) {
  for (const std::vector<Value>& row : rs)
    for (const Value& v : row) {
      const std::optional<std::string> text = value_to_text(v);
      PGJ_FUZZ_CHECK(text.has_value() == (v.index() != 0), "value_to_text of null");
      PGJ_FUZZ_CHECK(value_to_json(v).is_null() == (v.index() == 0) || v.index() == 3,
                     "value_to_json");
    }
}

// Event properties and enrollment contexts.
std::vector<Json> documents() {
  return {
      Json::parse(R"({"source": "web", "amount": 50, "cart": {"id": "c1", "items": [1, 2]},
                      "message_step": "welcome", "at": "2024-01-30T10:00:00Z", "coupon": "SAVE10",
                      "score": 3.5, "tags": ["a", "b"], "visited": "2024-01-31"})"),
      Json::parse(R"({"amount": 1e308, "x": -9223372036854775808, "u": 18446744073709551615,
                      "s": "", "n": null, "a": [null, {}, []], "at": "9999-12-31T23:59:59.999999-15:59"})"),
      Json::object(),
  };
}

// Behaviour leaves: answers from the event name; counts calls.
struct Behaviour : BehaviourLookup {
  int calls = 0;
  bool happened(const std::string& event, const std::string& step,
                std::optional<Duration> within) override {
    ++calls;
    return (event.size() + step.size() + (within ? 1 : 0)) % 2 == 0;
  }
};

ConditionScope scope(bool columns, bool event, bool context, bool trigger_ops, bool behaviour) {
  ConditionScope s;
  s.columns = columns;
  s.event = event;
  s.context = context;
  s.trigger_ops = trigger_ops;
  s.behaviour = behaviour;
  s.where = kWhere;
  return s;
}

// Whether an error message is the compiler's catch-all for an escaped exception.
bool escaped_exception(const std::string& e) {
  const std::string prefix = std::string("invalid condition in ") + kWhere + ": ";
  if (e.rfind(prefix, 0) != 0) return false;
  const std::string rest = e.substr(prefix.size());
  return rest.rfind("expected", 0) != 0 && rest.rfind("\"", 0) != 0;
}

// Checks the errors of one compilation; returns whether it compiled.
bool check_errors(const CompileResult& r, bool utf8_input) {
  for (const std::string& e : r.errors) {
    PGJ_FUZZ_CHECK(!escaped_exception(e), "exception escaped the compiler: " + e);
    PGJ_FUZZ_CHECK(!e.empty(), "empty error");
    if (utf8_input) PGJ_FUZZ_CHECK(valid_utf8(e), "error is not UTF-8: " + e);
  }
  return r.ok();
}

// Walks a compiled tree: no invalid node, leaf metadata consistent.
void check_tree(const CondNode& n, const AudienceSchema* schema, bool* event, bool* context,
                bool* behaviour, bool* trigger_ops) {
  switch (n.kind) {
    case CondNode::Kind::Invalid:
      PGJ_FUZZ_CHECK(false, "invalid node in a condition without errors");
      break;
    case CondNode::Kind::Not:
      PGJ_FUZZ_CHECK(n.children.size() == 1, "not with " + std::to_string(n.children.size()));
      [[fallthrough]];
    case CondNode::Kind::All:
    case CondNode::Kind::Any:
      PGJ_FUZZ_CHECK(!n.children.empty(), "empty all/any");
      for (const CondNode& c : n.children)
        check_tree(c, schema, event, context, behaviour, trigger_ops);
      break;
    case CondNode::Kind::Behaviour:
      PGJ_FUZZ_CHECK(!n.event.empty(), "behaviour leaf without event");
      *behaviour = true;
      break;
    case CondNode::Kind::Leaf:
      if (n.source == FieldSource::Column && schema)
        PGJ_FUZZ_CHECK(n.column >= 0 && static_cast<size_t>(n.column) < schema->columns.size(),
                       "column leaf without a column: " + n.field);
      if (n.source != FieldSource::Column)
        PGJ_FUZZ_CHECK(!n.path.empty(), "dynamic leaf without a path: " + n.field);
      if (n.source == FieldSource::Event) *event = true;
      if (n.source == FieldSource::Context) *context = true;
      if (n.op == CondOp::Changed || n.op == CondOp::ChangedTo) *trigger_ops = true;
      break;
  }
}

// Checks the metadata of a condition without errors.
void check_compiled(const CompiledCondition& c, const AudienceSchema* schema) {
  bool event = false, context = false, behaviour = false, trigger_ops = false;
  check_tree(c.root, schema, &event, &context, &behaviour, &trigger_ops);
  PGJ_FUZZ_CHECK(event == c.uses_event && context == c.uses_context &&
                     behaviour == c.uses_behaviour && trigger_ops == c.uses_trigger_ops,
                 "uses_* flags do not match the tree");
  for (size_t i = 0; i < c.columns_read.size(); ++i) {
    PGJ_FUZZ_CHECK(schema && c.columns_read[i] >= 0 &&
                       static_cast<size_t>(c.columns_read[i]) < schema->columns.size(),
                   "columns_read out of range");
    PGJ_FUZZ_CHECK(i == 0 || c.columns_read[i - 1] < c.columns_read[i], "columns_read unsorted");
  }
}

// Every evaluation input the fixtures give, plus the input JSON as event and context.
std::vector<EvalInput> inputs(const std::vector<std::vector<Value>>& rs,
                              const std::vector<Json>& docs, const Json* self, Behaviour* b) {
  std::vector<EvalInput> out;
  for (size_t r = 0; r < rs.size(); ++r) {
    EvalInput in;
    in.row = &rs[r];
    in.old_row = r == 0 ? nullptr : &rs[r - 1];
    in.event = &docs[r % docs.size()];
    in.context = &docs[(r + 1) % docs.size()];
    in.now_micros = r == 2 ? 0 : kNow;
    in.behaviour = r == 1 ? nullptr : b;
    out.push_back(in);
  }
  EvalInput in;
  in.row = &rs[0];
  in.old_row = &rs[3];
  in.event = self;
  in.context = self;
  in.now_micros = kNow;
  in.behaviour = b;
  out.push_back(in);
  EvalInput empty;  // nothing at all: no row, event or context
  out.push_back(empty);
  return out;
}

// SQL quoting as quote_identifier and quote_literal do it (always quoted).
std::string quote_identifier(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}
std::string quote_literal(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// Whether the parentheses of SQL text balance outside '...' literals and "..."
// identifiers, and no ';' appears there.
bool balanced_sql(const std::string& sql) {
  int depth = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {
      for (++i; i < sql.size(); ++i)
        if (sql[i] == c) {
          if (i + 1 < sql.size() && sql[i + 1] == c)
            ++i;
          else
            break;
        }
      if (i >= sql.size()) return false;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth < 0) return false;
    } else if (c == ';') {
      return false;
    }
  }
  return depth == 0;
}

// Whether every '...'::jsonb literal of SQL text is JSON (PostgreSQL would
// refuse the query at every run of the segment otherwise).
bool jsonb_literals_valid(const std::string& sql) {
  for (size_t i = 0; i < sql.size(); ++i) {
    if (sql[i] == '"') {
      i = sql.find('"', i + 1);
      if (i == std::string::npos) return false;
      continue;
    }
    if (sql[i] != '\'') continue;
    std::string literal;
    for (++i; i < sql.size(); ++i) {
      if (sql[i] == '\'') {
        if (i + 1 < sql.size() && sql[i + 1] == '\'') {
          literal += '\'';
          ++i;
          continue;
        }
        break;
      }
      literal += sql[i];
    }
    if (sql.compare(i + 1, 7, "::jsonb") == 0 && !Json::accept(literal)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<Json> parsed = pgj::fuzz::parse_json(data, size);
  if (!parsed) return 0;
  const Json& cond = *parsed;
  const AudienceSchema& schema = customers();
  const bool utf8 = true;  // the JSON parser only accepts UTF-8

  const ConditionScope columns_only = scope(true, false, false, false, false);
  const ConditionScope event_only = scope(false, true, false, false, false);
  const ConditionScope full = scope(true, true, true, false, true);
  const ConditionScope trigger = scope(true, true, true, true, true);

  CompileResult r_columns = compile_condition(cond, &schema, columns_only);
  CompileResult r_event = compile_condition(cond, &schema, event_only);
  CompileResult r_full = compile_condition(cond, &schema, full);
  CompileResult r_trigger = compile_condition(cond, &schema, trigger);
  CompileResult r_no_schema = compile_condition(cond, nullptr, trigger);
  const bool ok_columns = check_errors(r_columns, utf8);
  const bool ok_event = check_errors(r_event, utf8);
  const bool ok_full = check_errors(r_full, utf8);
  const bool ok_trigger = check_errors(r_trigger, utf8);
  const bool ok_no_schema = check_errors(r_no_schema, utf8);
  if (ok_columns) PGJ_FUZZ_CHECK(ok_full, "columns-only condition fails in the full scope");
  if (ok_event) PGJ_FUZZ_CHECK(ok_full, "event-only condition fails in the full scope");
  if (ok_full) PGJ_FUZZ_CHECK(ok_trigger, "condition fails once trigger ops are allowed");
  if (ok_trigger) PGJ_FUZZ_CHECK(ok_no_schema, "condition fails without a schema");

  static const std::vector<std::vector<Value>> rs = rows();
  static const bool converted = (check_value_conversions(rs), true);
  (void)converted;
  static const std::vector<Json> docs = documents();
  Behaviour behaviour;
  const std::vector<EvalInput> ins = inputs(rs, docs, &cond, &behaviour);

  for (const CompileResult* r : {&r_columns, &r_event, &r_full, &r_trigger}) {
    if (!r->ok()) continue;
    check_compiled(r->condition, &schema);
    behaviour.calls = 0;
    for (const EvalInput& in : ins) {
      const bool v = evaluate(r->condition, in);
      PGJ_FUZZ_CHECK(evaluate(r->condition, in) == v, "evaluate is not deterministic");
    }
    if (!r->condition.uses_behaviour) PGJ_FUZZ_CHECK(behaviour.calls == 0, "behaviour consulted");
  }
  if (ok_no_schema) check_compiled(r_no_schema.condition, nullptr);

  if (ok_full) {
    // The same condition compiled in a wider scope evaluates the same.
    for (const EvalInput& in : ins) {
      const bool v = evaluate(r_full.condition, in);
      if (ok_columns) PGJ_FUZZ_CHECK(evaluate(r_columns.condition, in) == v, "scope changes value");
      PGJ_FUZZ_CHECK(evaluate(r_trigger.condition, in) == v, "trigger scope changes value");
    }
    // Logic wrappers.
    const CompileResult r_not = compile_condition(Json{{"not", cond}}, &schema, full);
    const CompileResult r_all =
        compile_condition(Json{{"all", Json::array({cond, cond})}}, &schema, full);
    const CompileResult r_any =
        compile_condition(Json{{"any", Json::array({cond})}}, &schema, full);
    for (const CompileResult* w : {&r_not, &r_all, &r_any}) {
      check_errors(*w, utf8);
      if (!w->ok()) {
        for (const std::string& e : w->errors)
          PGJ_FUZZ_CHECK(e.find("nested too deeply") != std::string::npos,
                         "a wrapper of a valid condition fails: " + e);
      }
    }
    for (const EvalInput& in : ins) {
      const bool v = evaluate(r_full.condition, in);
      if (r_not.ok()) PGJ_FUZZ_CHECK(evaluate(r_not.condition, in) == !v, "not");
      if (r_all.ok()) PGJ_FUZZ_CHECK(evaluate(r_all.condition, in) == v, "all");
      if (r_any.ok()) PGJ_FUZZ_CHECK(evaluate(r_any.condition, in) == v, "any");
    }
  }

  if (ok_columns) {
    // Segment entry triggers: a columns-only condition has a SQL form.
    SqlQuoting quoting{quote_identifier, quote_literal};
    std::string sql;
    try {
      sql = condition_to_sql(cond, schema, quoting);
    } catch (const std::exception& e) {
      PGJ_FUZZ_CHECK(false, std::string("condition_to_sql threw: ") + e.what());
    }
    PGJ_FUZZ_CHECK(!sql.empty() && balanced_sql(sql), "unbalanced SQL: " + sql);
    PGJ_FUZZ_CHECK(jsonb_literals_valid(sql), "a jsonb literal is not JSON: " + sql);
  }
  return 0;
}
