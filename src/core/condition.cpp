// Condition compiler (JSON -> typed tree) and evaluator.
#include "core/condition.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace pgj::core {

namespace {

struct OpInfo {
  CondOp op;
  const char* name;
};

const OpInfo kOps[] = {
    {CondOp::Eq, "eq"},
    {CondOp::Ne, "ne"},
    {CondOp::Lt, "lt"},
    {CondOp::Lte, "lte"},
    {CondOp::Gt, "gt"},
    {CondOp::Gte, "gte"},
    {CondOp::In, "in"},
    {CondOp::NotIn, "not_in"},
    {CondOp::Contains, "contains"},
    {CondOp::StartsWith, "starts_with"},
    {CondOp::Exists, "exists"},
    {CondOp::NotExists, "not_exists"},
    {CondOp::Changed, "changed"},
    {CondOp::ChangedTo, "changed_to"},
    {CondOp::Within, "within"},
};

constexpr int kIncomparable = 2;

// Whether op takes no "value".
bool op_without_value(CondOp op) {
  return op == CondOp::Exists || op == CondOp::NotExists || op == CondOp::Changed;
}

bool is_ordering(CondOp op) {
  return op == CondOp::Lt || op == CondOp::Lte || op == CondOp::Gt || op == CondOp::Gte;
}

// Three-way compare of two numbers of possibly different kinds.
template <typename A, typename B>
int cmp_num(A a, B b) {
  if constexpr (std::is_same_v<A, int64_t> && std::is_same_v<B, int64_t>) {
    return a < b ? -1 : (a > b ? 1 : 0);
  } else {
    double x = static_cast<double>(a), y = static_cast<double>(b);
    if (std::isnan(x) || std::isnan(y)) return kIncomparable;
    return x < y ? -1 : (x > y ? 1 : 0);
  }
}

// Micros of a timestamp-like value (Timestamp, or an ISO string).
std::optional<int64_t> micros_of(const Value& v) {
  if (auto* t = std::get_if<Timestamp>(&v)) return t->micros_since_unix_epoch;
  if (auto* s = std::get_if<std::string>(&v)) return parse_timestamp(*s, nullptr);
  return std::nullopt;
}

// Three-way compare of two values; kIncomparable for null or mismatched types.
int compare_values(const Value& a, const Value& b) {
  switch (a.index()) {
    case 1:
      if (auto* y = std::get_if<bool>(&b)) return static_cast<int>(std::get<bool>(a)) - *y;
      return kIncomparable;
    case 2:
      if (auto* y = std::get_if<int64_t>(&b)) return cmp_num(std::get<int64_t>(a), *y);
      if (auto* y = std::get_if<double>(&b)) return cmp_num(std::get<int64_t>(a), *y);
      return kIncomparable;
    case 3:
      if (auto* y = std::get_if<int64_t>(&b)) return cmp_num(std::get<double>(a), *y);
      if (auto* y = std::get_if<double>(&b)) return cmp_num(std::get<double>(a), *y);
      return kIncomparable;
    case 4:
      if (auto* y = std::get_if<std::string>(&b)) {
        int c = std::get<std::string>(a).compare(*y);
        return c < 0 ? -1 : (c > 0 ? 1 : 0);
      }
      if (std::holds_alternative<Timestamp>(b)) {
        auto x = micros_of(a);
        if (!x) return kIncomparable;
        return cmp_num(*x, std::get<Timestamp>(b).micros_since_unix_epoch);
      }
      return kIncomparable;
    case 5:
      if (auto y = std::holds_alternative<std::monostate>(b) ? std::nullopt : micros_of(b))
        return cmp_num(std::get<Timestamp>(a).micros_since_unix_epoch, *y);
      return kIncomparable;
    default:
      return kIncomparable;
  }
}

// Three-way compare of two JSON scalars of the same kind (numbers, strings,
// booleans); kIncomparable otherwise.
int compare_json(const Json& a, const Json& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_number_float() || b.is_number_float())
      return cmp_num(a.get<double>(), b.get<double>());
    if (a.is_number_unsigned() || b.is_number_unsigned()) {
      // Mixed signedness: compare as long double to stay exact enough.
      long double x = a.is_number_unsigned() ? a.get<uint64_t>() : a.get<int64_t>();
      long double y = b.is_number_unsigned() ? b.get<uint64_t>() : b.get<int64_t>();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    return cmp_num(a.get<int64_t>(), b.get<int64_t>());
  }
  if (a.is_string() && b.is_string()) {
    int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_boolean() && b.is_boolean()) return static_cast<int>(a.get<bool>()) - b.get<bool>();
  return kIncomparable;
}

// Dynamic equality: same-kind scalars compare, structured values compare deeply.
bool json_eq(const Json& a, const Json& b) {
  int c = compare_json(a, b);
  if (c != kIncomparable) return c == 0;
  if ((a.is_array() && b.is_array()) || (a.is_object() && b.is_object())) return a == b;
  return false;
}

// Whether an ordering op holds for a three-way result.
bool holds(CondOp op, int c) {
  if (c == kIncomparable) return false;
  switch (op) {
    case CondOp::Eq:
      return c == 0;
    case CondOp::Ne:
      return c != 0;
    case CondOp::Lt:
      return c < 0;
    case CondOp::Lte:
      return c <= 0;
    case CondOp::Gt:
      return c > 0;
    case CondOp::Gte:
      return c >= 0;
    default:
      return false;
  }
}

bool is_null(const Value& v) {
  return std::holds_alternative<std::monostate>(v);
}

// Whether two column values differ (IS DISTINCT FROM).
bool distinct(const Value& a, const Value& b) {
  if (is_null(a) || is_null(b)) return is_null(a) != is_null(b);
  int c = compare_values(a, b);
  if (c == kIncomparable) return true;
  return c != 0;
}

// Time-window test: now - d <= t <= now.
bool in_window(int64_t t, int64_t now, int64_t d) {
  int64_t lo = now - d;
  if (d > 0 && lo > now) lo = std::numeric_limits<int64_t>::min();  // underflow
  return lo <= t && t <= now;
}

// Looks up a dotted path under root; null when absent (or a JSON null).
const Json* lookup_path(const Json* root, const std::vector<std::string>& path) {
  const Json* cur = root;
  for (const std::string& key : path) {
    if (!cur || !cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  if (cur && cur->is_null()) return nullptr;
  return cur;
}

// Parses a Json column's value (jsonb text) for eq / contains.
std::optional<Json> json_of_column(const Value& v) {
  if (auto* s = std::get_if<std::string>(&v)) {
    Json j = Json::parse(*s, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return Json(*s);
    return j;
  }
  if (is_null(v)) return std::nullopt;
  return value_to_json(v);
}

// Evaluates a leaf on an event/context field.
bool eval_dynamic(const CondNode& n, const EvalInput& in) {
  const Json* root = n.source == FieldSource::Event ? in.event : in.context;
  const Json* f = lookup_path(root, n.path);
  switch (n.op) {
    case CondOp::Exists:
      return f != nullptr;
    case CondOp::NotExists:
      return f == nullptr;
    default:
      break;
  }
  if (!f) return false;
  const Json& v = n.json_value;
  switch (n.op) {
    case CondOp::Eq:
      return json_eq(*f, v);
    case CondOp::Ne: {
      int c = compare_json(*f, v);
      if (c != kIncomparable) return c != 0;
      if ((f->is_array() && v.is_array()) || (f->is_object() && v.is_object())) return *f != v;
      return false;
    }
    case CondOp::Lt:
    case CondOp::Lte:
    case CondOp::Gt:
    case CondOp::Gte:
      return holds(n.op, compare_json(*f, v));
    case CondOp::In:
    case CondOp::NotIn: {
      bool found = false;
      for (const Json& e : v)
        if (json_eq(*f, e)) {
          found = true;
          break;
        }
      return n.op == CondOp::In ? found : !found;
    }
    case CondOp::Contains:
      if (f->is_string())
        return v.is_string() && f->get_ref<const std::string&>().find(
                                    v.get_ref<const std::string&>()) != std::string::npos;
      if (f->is_array() || f->is_object()) return json_contains(*f, v);
      return false;
    case CondOp::StartsWith:
      return f->is_string() && v.is_string() &&
             f->get_ref<const std::string&>().compare(0, v.get_ref<const std::string&>().size(),
                                                      v.get_ref<const std::string&>()) == 0;
    case CondOp::Within: {
      if (!f->is_string()) return false;
      auto t = parse_timestamp(f->get_ref<const std::string&>(), nullptr);
      return t && in_window(*t, in.now_micros, n.within_micros);
    }
    default:
      return false;
  }
}

// Evaluates a leaf on an audience column.
bool eval_column(const CondNode& n, const EvalInput& in) {
  static const Value kNull;
  const Value& v = (in.row && n.column >= 0 && static_cast<size_t>(n.column) < in.row->size())
                       ? (*in.row)[n.column]
                       : kNull;
  switch (n.op) {
    case CondOp::Exists:
      return !is_null(v);
    case CondOp::NotExists:
      return is_null(v);
    case CondOp::Changed:
    case CondOp::ChangedTo: {
      bool changed;
      if (!in.old_row) {
        changed = !is_null(v);
      } else {
        const Value& o =
            static_cast<size_t>(n.column) < in.old_row->size() ? (*in.old_row)[n.column] : kNull;
        changed = distinct(o, v);
      }
      if (!changed || n.op == CondOp::Changed) return changed;
      if (n.column_type == ValueType::Json) {
        auto j = json_of_column(v);
        return j && json_eq(*j, n.json_value);
      }
      return compare_values(v, n.value) == 0;
    }
    default:
      break;
  }
  if (is_null(v)) return false;
  if (n.column_type == ValueType::Json) {
    auto j = json_of_column(v);
    if (!j) return false;
    switch (n.op) {
      case CondOp::Eq:
        return json_eq(*j, n.json_value);
      case CondOp::Ne:
        return !json_eq(*j, n.json_value);
      case CondOp::Contains:
        return json_contains(*j, n.json_value);
      default:
        return false;
    }
  }
  switch (n.op) {
    case CondOp::Eq:
    case CondOp::Ne:
    case CondOp::Lt:
    case CondOp::Lte:
    case CondOp::Gt:
    case CondOp::Gte:
      return holds(n.op, compare_values(v, n.value));
    case CondOp::In:
    case CondOp::NotIn: {
      bool found = false;
      for (const Value& c : n.values)
        if (compare_values(v, c) == 0) {
          found = true;
          break;
        }
      return n.op == CondOp::In ? found : !found;
    }
    case CondOp::Contains: {
      auto* s = std::get_if<std::string>(&v);
      auto* c = std::get_if<std::string>(&n.value);
      return s && c && s->find(*c) != std::string::npos;
    }
    case CondOp::StartsWith: {
      auto* s = std::get_if<std::string>(&v);
      auto* c = std::get_if<std::string>(&n.value);
      return s && c && s->compare(0, c->size(), *c) == 0;
    }
    case CondOp::Within: {
      auto t = micros_of(v);
      return t && in_window(*t, in.now_micros, n.within_micros);
    }
    default:
      return false;
  }
}

// Evaluates one node recursively.
bool eval_node(const CondNode& n, const EvalInput& in) {
  switch (n.kind) {
    case CondNode::Kind::All:
      for (const CondNode& c : n.children)
        if (!eval_node(c, in)) return false;
      return true;
    case CondNode::Kind::Any:
      for (const CondNode& c : n.children)
        if (eval_node(c, in)) return true;
      return false;
    case CondNode::Kind::Not:
      return !n.children.empty() && !eval_node(n.children[0], in);
    case CondNode::Kind::Leaf:
      return n.source == FieldSource::Column ? eval_column(n, in) : eval_dynamic(n, in);
    case CondNode::Kind::Behaviour:
      if (!in.behaviour) return false;
      if (!n.message_of.empty())
        return in.behaviour->message_happened(n.event, n.message_of, n.within) == n.happened;
      return in.behaviour->happened(n.event, n.step, n.within) == n.happened;
    case CondNode::Kind::Invalid:
      return false;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Compiler.

struct Compiler {
  const AudienceSchema* schema;
  const ConditionScope& scope;
  std::vector<std::string>* errors;
  CompiledCondition* out;
  bool* unknown_column;  // set when a field names no column of the audience

  // " in <where>" suffix for messages.
  std::string in_where() const { return std::string(" in ") + scope.where; }

  void error(std::string msg) { errors->push_back(std::move(msg)); }

  // Type name of a column for messages.
  std::string type_of(const Column& c) const {
    return c.type_name.empty() ? value_type_name(c.type) : c.type_name;
  }

  // Compiles one node (any kind).
  CondNode node(const Json& j, int depth) {
    CondNode n;
    if (depth > 64) {
      error("condition nested too deeply" + in_where());
      return n;
    }
    if (!j.is_object()) {
      error("invalid condition" + in_where() + ": expected a JSON object, got " +
            std::string(j.type_name()));
      return n;
    }
    static const char* kKinds[] = {"all", "any", "not", "field", "event"};
    std::vector<std::string> kinds;
    for (const char* k : kKinds)
      if (j.contains(k)) kinds.push_back(k);
    if (kinds.empty()) {
      error("invalid condition" + in_where() +
            ": expected one of \"all\", \"any\", \"not\", \"field\" or \"event\"");
      return n;
    }
    if (kinds.size() > 1) {
      error("invalid condition" + in_where() + ": \"" + kinds[0] + "\" and \"" + kinds[1] +
            "\" cannot be combined in one object");
      return n;
    }
    const std::string& kind = kinds[0];
    if (kind == "all" || kind == "any") {
      for (auto it = j.begin(); it != j.end(); ++it)
        if (it.key() != kind)
          error("unknown key \"" + it.key() + "\" next to \"" + kind + "\"" + in_where());
      const Json& arr = member(j, kind);
      if (!arr.is_array() || arr.empty()) {
        error("\"" + kind + "\" must be a non-empty array" + in_where());
        return n;
      }
      n.kind = kind == "all" ? CondNode::Kind::All : CondNode::Kind::Any;
      for (const Json& c : arr) n.children.push_back(node(c, depth + 1));
      return n;
    }
    if (kind == "not") {
      for (auto it = j.begin(); it != j.end(); ++it)
        if (it.key() != kind)
          error("unknown key \"" + it.key() + "\" next to \"not\"" + in_where());
      n.kind = CondNode::Kind::Not;
      n.children.push_back(node(member(j, "not"), depth + 1));
      return n;
    }
    if (kind == "event") return behaviour(j);
    return leaf(j);
  }

  // Compiles a behaviour leaf {"event", "step", "happened", "within"}.
  CondNode behaviour(const Json& j) {
    CondNode n;
    n.kind = CondNode::Kind::Behaviour;
    const Json& ev = member(j, "event");
    std::string name = ev.is_string() ? ev.get<std::string>() : std::string();
    if (name.empty()) {
      error("behaviour condition" + in_where() + ": \"event\" must be a non-empty string");
      n.kind = CondNode::Kind::Invalid;
    }
    n.event = name;
    if (!scope.behaviour)
      error("behaviour condition on event \"" + name + "\" is not allowed" + in_where());
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& k = it.key();
      if (k == "event") continue;
      if (k == "step") {
        if (!it->is_string() || it->get_ref<const std::string&>().empty())
          error("behaviour condition on event \"" + name + "\"" + in_where() +
                ": \"step\" must be a non-empty string");
        else
          n.step = it->get<std::string>();
      } else if (k == "message_of") {
        if (!it->is_string() || it->get_ref<const std::string&>().empty()) {
          error("behaviour condition on event \"" + name + "\"" + in_where() +
                ": \"message_of\" must name a send step");
        } else if (!is_message_event_kind(name)) {
          error("behaviour condition on event \"" + name + "\"" + in_where() +
                ": with \"message_of\" the event must be delivered, opened, clicked, bounced, "
                "complained, unsubscribed or failed");
        } else if (j.contains("step")) {
          error("behaviour condition on event \"" + name + "\"" + in_where() +
                ": \"step\" and \"message_of\" cannot be used together");
        } else {
          n.message_of = it->get<std::string>();
        }
      } else if (k == "happened") {
        if (!it->is_boolean())
          error("behaviour condition on event \"" + name + "\"" + in_where() +
                ": \"happened\" must be true or false");
        else
          n.happened = it->get<bool>();
      } else if (k == "within") {
        std::string err;
        std::optional<Duration> d =
            it->is_string() ? parse_duration(it->get<std::string>(), &err) : std::nullopt;
        if (!it->is_string()) err = "\"within\" must be a duration string like \"3 days\"";
        if (d && !d->is_positive()) {
          err = "\"within\" must be a positive duration";
          d.reset();
        }
        if (!d)
          error("behaviour condition on event \"" + name + "\"" + in_where() + ": " + err);
        else
          n.within = d;
      } else {
        error("unknown key \"" + k + "\" in behaviour condition on event \"" + name + "\"" +
              in_where());
      }
    }
    out->uses_behaviour = true;
    return n;
  }

  // Checks a constant for a column leaf and converts it to the column's type.
  // Returns false (after recording an error) when it does not fit.
  bool typed_value(const Json& v, const Column& col, const std::string& field, Value* out_value) {
    auto must = [&](const char* what) {
      error("value for \"" + field + "\" must be " + what + " (column type " + type_of(col) + ")");
      return false;
    };
    switch (col.type) {
      case ValueType::Bool:
        if (!v.is_boolean()) return must("true or false");
        *out_value = v.get<bool>();
        return true;
      case ValueType::Int:
        if (!v.is_number_integer() ||
            (v.is_number_unsigned() &&
             v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())))
          return must("an integer");
        *out_value = v.get<int64_t>();
        return true;
      case ValueType::Float:
        if (!v.is_number()) return must("a number");
        *out_value = v.get<double>();
        return true;
      case ValueType::Text:
        if (!v.is_string()) return must("a string");
        *out_value = v.get<std::string>();
        return true;
      case ValueType::Timestamp:
      case ValueType::Date: {
        if (!v.is_string())
          return must("an ISO date/time string like \"2024-01-31\" or \"2024-01-31T09:00:00Z\"");
        std::string err;
        auto t = parse_timestamp(v.get<std::string>(), &err);
        if (!t) {
          error("value for \"" + field + "\": " + err + " (column type " + type_of(col) + ")");
          return false;
        }
        *out_value = Timestamp{*t};
        return true;
      }
      case ValueType::Json:
        *out_value = v.dump();
        return true;
      case ValueType::Other:
        *out_value = v.is_string() ? v.get<std::string>() : v.dump();
        return true;
    }
    return false;
  }

  // Whether op applies to a column of type t.
  static bool op_fits_type(CondOp op, ValueType t) {
    switch (op) {
      case CondOp::Eq:
      case CondOp::Ne:
      case CondOp::Exists:
      case CondOp::NotExists:
      case CondOp::Changed:
      case CondOp::ChangedTo:
        return true;
      case CondOp::Lt:
      case CondOp::Lte:
      case CondOp::Gt:
      case CondOp::Gte:
      case CondOp::In:
      case CondOp::NotIn:
        return t == ValueType::Int || t == ValueType::Float || t == ValueType::Text ||
               t == ValueType::Timestamp || t == ValueType::Date ||
               (t == ValueType::Bool && !is_ordering(op));
      case CondOp::Contains:
        return t == ValueType::Text || t == ValueType::Json;
      case CondOp::StartsWith:
        return t == ValueType::Text;
      case CondOp::Within:
        return t == ValueType::Timestamp || t == ValueType::Date;
    }
    return false;
  }

  // Parses a "within" duration value into n (positive required).
  bool within_value(const Json& v, const std::string& field, CondNode* n) {
    std::string err;
    std::optional<Duration> d =
        v.is_string() ? parse_duration(v.get<std::string>(), &err) : std::nullopt;
    if (!v.is_string()) err = "must be a duration string like \"7 days\"";
    if (d && !d->is_positive()) {
      err = "must be a positive duration";
      d.reset();
    }
    if (!d) {
      error("value for \"" + field + "\" (op \"within\")" + in_where() + ": " + err);
      return false;
    }
    n->within_micros = d->approx_micros();
    return true;
  }

  // Compiles a field leaf {"field", "op", "value"}.
  CondNode leaf(const Json& j) {
    CondNode n;
    n.kind = CondNode::Kind::Leaf;
    bool ok = leaf_keys(j);
    const Json& fj = member(j, "field");
    if (!fj.is_string() || fj.get_ref<const std::string&>().empty()) {
      error("\"field\" must be a non-empty string" + in_where());
      n.kind = CondNode::Kind::Invalid;
      return n;
    }
    const std::string field = fj.get<std::string>();
    n.field = field;
    const Column* col = nullptr;
    if (!leaf_source(field, &n, &col)) ok = false;
    std::optional<CondOp> op = leaf_op(j, field);
    if (!op) {
      n.kind = CondNode::Kind::Invalid;
      return n;
    }
    n.op = *op;
    if (!op_fits(n, &col)) ok = false;
    // Value.
    const std::string opq = std::string("op \"") + op_name(*op) + "\"";
    const bool has_value = j.contains("value");
    if (op_without_value(*op)) {
      if (has_value) {
        error(opq + " on field \"" + field + "\" takes no value" + in_where());
        ok = false;
      }
      if (!ok) n.kind = CondNode::Kind::Invalid;
      return n;
    }
    if (!has_value) {
      error(opq + " on field \"" + field + "\" needs a value" + in_where());
      n.kind = CondNode::Kind::Invalid;
      return n;
    }
    const Json& v = member(j, "value");
    n.json_value = v;
    if (v.is_null()) {
      error("value for \"" + field + "\" is null" + in_where() +
            " (use op \"exists\" or \"not_exists\" to test for null)");
      n.kind = CondNode::Kind::Invalid;
      return n;
    }
    if (!leaf_value(v, col, &n)) ok = false;
    if (!ok) n.kind = CondNode::Kind::Invalid;
    return n;
  }

  // Reports the members of a leaf other than field, op and value; whether
  // there are none.
  bool leaf_keys(const Json& j) {
    bool ok = true;
    for (auto it = j.begin(); it != j.end(); ++it)
      if (it.key() != "field" && it.key() != "op" && it.key() != "value") {
        error("unknown key \"" + it.key() + "\" in condition on field " +
              member(j, "field").dump() + in_where());
        ok = false;
      }
    return ok;
  }

  // Resolves a leaf's field: an event or context path, or an audience column
  // (*col, when the schema has it). Whether the scope allows it and it resolves.
  bool leaf_source(const std::string& field, CondNode* n, const Column** col) {
    if (field == "event" || field.rfind("event.", 0) == 0) {
      out->uses_event = true;
      return dynamic_path(field, "event.", FieldSource::Event, scope.event, n);
    }
    if (field == "context" || field.rfind("context.", 0) == 0) {
      out->uses_context = true;
      return dynamic_path(field, "context.", FieldSource::Context, scope.context, n);
    }
    n->source = FieldSource::Column;
    if (!scope.columns) {
      error("field \"" + field + "\" is not allowed" + in_where() +
            (scope.event ? " (use event.<property>)" : ""));
      return false;
    }
    if (!schema) return true;
    n->column = schema->find(field);
    if (n->column < 0) {
      *unknown_column = true;
      error("unknown column \"" + field + "\"" + in_where() + " (audience " + schema->relation +
            " has no such column)");
      return false;
    }
    *col = &schema->columns[n->column];
    n->column_type = (*col)->type;
    out->columns_read.push_back(n->column);
    return true;
  }

  // The path below "event." or "context." of a dynamic field into n->path;
  // whether it is allowed (`allowed`) and well formed.
  bool dynamic_path(const std::string& field, const char* prefix, FieldSource src, bool allowed,
                    CondNode* n) {
    bool ok = true;
    size_t len = std::char_traits<char>::length(prefix);
    std::string rest = field.size() > len ? field.substr(len) : std::string();
    n->source = src;
    if (!allowed) {
      error("field \"" + field + "\" is not allowed" + in_where());
      ok = false;
    }
    if (rest.empty()) {
      error("field \"" + field + "\" needs a property name (" + prefix + "<name>)" + in_where());
      return false;
    }
    size_t start = 0;
    while (true) {
      size_t dot = rest.find('.', start);
      std::string key = rest.substr(start, dot == std::string::npos ? dot : dot - start);
      if (key.empty()) {
        error("field \"" + field + "\" has an empty path segment" + in_where());
        return false;
      }
      n->path.push_back(key);
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    return ok;
  }

  // A leaf's op, or nullopt (reported) when it is missing or unknown.
  std::optional<CondOp> leaf_op(const Json& j, const std::string& field) {
    const Json& oj = member(j, "op");
    if (!j.contains("op")) {
      error("condition on field \"" + field + "\" has no op" + in_where());
      return std::nullopt;
    }
    std::optional<CondOp> op =
        oj.is_string() ? parse_op(oj.get_ref<const std::string&>()) : std::nullopt;
    if (!op)
      error("unknown op " + (oj.is_string() ? "\"" + oj.get<std::string>() + "\"" : oj.dump()) +
            " for field \"" + field + "\"" + in_where());
    return op;
  }

  // Whether the leaf's op may be used here (trigger ops) and on its column's
  // type; *col is cleared when not (its value is then not type-checked).
  bool op_fits(const CondNode& n, const Column** col) {
    const std::string opq = std::string("op \"") + op_name(n.op) + "\"";
    bool ok = true;
    if (n.op == CondOp::Changed || n.op == CondOp::ChangedTo) {
      out->uses_trigger_ops = true;
      if (!scope.trigger_ops) {
        error(opq + " (field \"" + n.field +
              "\") is only allowed in attribute entry triggers, not" + in_where());
        ok = false;
      } else if (n.source != FieldSource::Column) {
        error(opq + " needs an audience column, not field \"" + n.field + "\"" + in_where());
        ok = false;
      }
    }
    if (*col && !op_fits_type(n.op, (*col)->type)) {
      error(opq + " cannot be used on field \"" + n.field + "\" (column type " + type_of(**col) +
            ")" + in_where());
      ok = false;
      *col = nullptr;  // skip the value type check
    }
    return ok;
  }

  // Checks a leaf's (non-null) value against its op and column, typing it
  // into n->value / n->values; whether it fits.
  bool leaf_value(const Json& v, const Column* col, CondNode* n) {
    const std::string& field = n->field;
    const CondOp op = n->op;
    const std::string opq = std::string("op \"") + op_name(op) + "\"";
    if (op == CondOp::Within) return within_value(v, field, n);
    if (op == CondOp::In || op == CondOp::NotIn) {
      if (!v.is_array() || v.empty()) {
        error("value for \"" + field + "\" (" + opq + ") must be a non-empty array" + in_where());
        return false;
      }
      for (const Json& e : v) {
        if (e.is_null() || e.is_array() || e.is_object()) {
          error("value for \"" + field + "\" (" + opq + ") must be an array of scalars" +
                in_where());
          return false;
        }
        if (col) {
          Value tv;
          if (!typed_value(e, *col, field, &tv)) return false;
          n->values.push_back(std::move(tv));
        }
      }
      return true;
    }
    if (col) {
      if (op == CondOp::Contains && col->type == ValueType::Json) return true;  // any JSON value
      return typed_value(v, *col, field, &n->value);
    }
    if (n->source != FieldSource::Column || !schema) {
      // Dynamic field: type known only at evaluation.
      if (is_ordering(op) && !v.is_number() && !v.is_string()) {
        error("value for \"" + field + "\" (" + opq + ") must be a number or a string" +
              in_where());
        return false;
      }
      if (op == CondOp::StartsWith && !v.is_string()) {
        error("value for \"" + field + "\" (" + opq + ") must be a string" + in_where());
        return false;
      }
    }
    return true;
  }
};

}  // namespace

// Op name table lookup.
const char* op_name(CondOp op) {
  for (const OpInfo& o : kOps)
    if (o.op == op) return o.name;
  return "?";
}

// Op by JSON name.
std::optional<CondOp> parse_op(std::string_view name) {
  for (const OpInfo& o : kOps)
    if (name == o.name) return o.op;
  return std::nullopt;
}

// Human name of a type category.
const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::Bool:
      return "boolean";
    case ValueType::Int:
      return "integer";
    case ValueType::Float:
      return "double precision";
    case ValueType::Text:
      return "text";
    case ValueType::Timestamp:
      return "timestamp with time zone";
    case ValueType::Date:
      return "date";
    case ValueType::Json:
      return "jsonb";
    case ValueType::Other:
      return "other";
  }
  return "other";
}

// Compiles condition JSON; see the header.
CompileResult compile_condition(const Json& cond, const AudienceSchema* schema,
                                const ConditionScope& scope) {
  CompileResult r;
  try {
    Compiler c{schema, scope, &r.errors, &r.condition, &r.unknown_column};
    r.condition.root = c.node(cond, 0);
  } catch (const std::exception& e) {
    r.errors.push_back(std::string("invalid condition in ") + scope.where + ": " + e.what());
  }
  auto& cols = r.condition.columns_read;
  std::sort(cols.begin(), cols.end());
  cols.erase(std::unique(cols.begin(), cols.end()), cols.end());
  return r;
}

// Evaluates a compiled condition; see the header.
bool evaluate(const CompiledCondition& cond, const EvalInput& input) {
  try {
    return eval_node(cond.root, input);
  } catch (const Json::exception&) {
    return false;  // an unexpected JSON shape compares false, like a type mismatch
  }
}

// JSON form of a value (Timestamp as ISO text).
Json value_to_json(const Value& v) {
  switch (v.index()) {
    case 1:
      return std::get<bool>(v);
    case 2:
      return std::get<int64_t>(v);
    case 3:
      return std::get<double>(v);
    case 4:
      return std::get<std::string>(v);
    case 5:
      return format_timestamp(std::get<Timestamp>(v).micros_since_unix_epoch);
    default:
      return nullptr;
  }
}

// Text form of a value for templates.
std::optional<std::string> value_to_text(const Value& v) {
  switch (v.index()) {
    case 1:
      return std::get<bool>(v) ? "true" : "false";
    case 2:
      return std::to_string(std::get<int64_t>(v));
    case 3:
      return Json(std::get<double>(v)).dump();
    case 4:
      return std::get<std::string>(v);
    case 5:
      return format_timestamp(std::get<Timestamp>(v).micros_since_unix_epoch);
    default:
      return std::nullopt;
  }
}

// jsonb-style containment.
bool json_contains(const Json& a, const Json& b) {
  if (a.is_object()) {
    if (!b.is_object()) return false;
    for (auto it = b.begin(); it != b.end(); ++it) {
      auto f = a.find(it.key());
      if (f == a.end() || !json_contains(*f, *it)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (b.is_array()) {
      for (const Json& want : b) {
        bool found = false;
        for (const Json& have : a)
          if (json_contains(have, want)) {
            found = true;
            break;
          }
        if (!found) return false;
      }
      return true;
    }
    if (b.is_object()) return false;
    for (const Json& have : a)
      if (!have.is_array() && !have.is_object() && json_eq(have, b)) return true;
    return false;
  }
  if (b.is_array() || b.is_object()) return false;
  return json_eq(a, b) || (a.is_null() && b.is_null());
}

// The kinds of engagement journey.message_event records.
bool is_message_event_kind(const std::string& kind) {
  for (const char* k :
       {"delivered", "opened", "clicked", "bounced", "complained", "unsubscribed", "failed"})
    if (kind == k) return true;
  return false;
}

}  // namespace pgj::core
