// Condition JSON -> SQL over the audience table "t".
#include "core/condition_sql.hpp"

#include "core/condition.hpp"
#include "core/duration.hpp"
#include "core/error.hpp"

namespace pgj::core {

namespace {

class Renderer {
 public:
  Renderer(const AudienceSchema& schema, const SqlQuoting& q) : schema_(schema), q_(q) {}

  std::string node(const Json& c) {
    if (!c.is_object()) fail("a condition must be a JSON object");
    if (c.contains("all")) return combine(c["all"], " AND ", "true");
    if (c.contains("any")) return combine(c["any"], " OR ", "false");
    if (c.contains("not")) return "(NOT coalesce(" + node(c["not"]) + ", false))";
    if (c.contains("event")) fail("behaviour conditions cannot select a segment");
    return leaf(c);
  }

 private:
  [[noreturn]] static void fail(const std::string& message) {
    throw Error("22023", "segment condition: " + message);
  }

  std::string combine(const Json& list, const char* op, const char* empty) {
    if (!list.is_array() || list.empty()) return empty;
    std::string out = "(";
    for (size_t i = 0; i < list.size(); ++i) {
      if (i) out += op;
      out += "coalesce(" + node(list[i]) + ", false)";
    }
    return out + ")";
  }

  // The SQL operator of a comparison op, or nullptr for the other ops.
  static const char* comparison(CondOp op) {
    switch (op) {
      case CondOp::Eq:
        return "=";
      case CondOp::Ne:
        return "<>";
      case CondOp::Lt:
        return "<";
      case CondOp::Lte:
        return "<=";
      case CondOp::Gt:
        return ">";
      case CondOp::Gte:
        return ">=";
      default:
        return nullptr;
    }
  }

  // A JSON scalar as a SQL literal cast to the column's type (a jsonb column
  // takes the value's JSON text: 'x'::jsonb is not valid JSON, '"x"'::jsonb is).
  std::string value(const Json& v, const Column& column) {
    std::string text =
        v.is_string() && column.type != ValueType::Json ? v.get<std::string>() : v.dump();
    return q_.literal(text) + "::" + column.type_name;
  }

  std::string leaf(const Json& c) {
    if (!c.contains("field") || !c["field"].is_string()) fail("a leaf needs \"field\"");
    std::string field = c["field"].get<std::string>();
    int index = schema_.find(field);
    if (index < 0) fail("field \"" + field + "\" is not a column of " + schema_.relation);
    const Column& column = schema_.columns[index];
    std::string col = "t." + q_.identifier(field);
    std::string op_name = c.value("op", "eq");
    auto op = parse_op(op_name);
    if (!op) fail("unknown op \"" + op_name + "\"");
    const Json& v = c.contains("value") ? c["value"] : Json();
    if (const char* sql_op = comparison(*op))
      return "(" + col + " " + sql_op + " " + value(v, column) + ")";
    switch (*op) {
      case CondOp::Eq:
      case CondOp::Ne:
      case CondOp::Lt:
      case CondOp::Lte:
      case CondOp::Gt:
      case CondOp::Gte:
        break;  // handled above
      case CondOp::In:
      case CondOp::NotIn: {
        if (!v.is_array() || v.empty()) fail("in / not_in need a non-empty array");
        std::string list;
        for (size_t i = 0; i < v.size(); ++i) list += (i ? ", " : "") + value(v[i], column);
        return *op == CondOp::In ? "(" + col + " IN (" + list + "))"
                                 : "(" + col + " NOT IN (" + list + "))";
      }
      case CondOp::Contains:
        if (column.type == ValueType::Json)
          return "(" + col + "::jsonb @> " + q_.literal(v.dump()) + "::jsonb)";
        return "(strpos(" + col + "::text, " +
               q_.literal(v.is_string() ? v.get<std::string>() : v.dump()) + ") > 0)";
      case CondOp::StartsWith:
        return "starts_with(" + col + "::text, " +
               q_.literal(v.is_string() ? v.get<std::string>() : v.dump()) + ")";
      case CondOp::Exists:
        return "(" + col + " IS NOT NULL)";
      case CondOp::NotExists:
        return "(" + col + " IS NULL)";
      case CondOp::Within: {
        std::string error;
        auto d = v.is_string() ? parse_duration(v.get<std::string>(), &error) : std::nullopt;
        if (!d) fail("within needs a duration");
        std::string span = q_.literal(d->to_interval_text()) + "::interval";
        return "(" + col + " >= now() - " + span + " AND " + col + " <= now())";
      }
      case CondOp::Changed:
      case CondOp::ChangedTo:
        fail("changed / changed_to only apply to attribute triggers");
    }
    fail("unsupported op \"" + op_name + "\"");
  }

  const AudienceSchema& schema_;
  const SqlQuoting& q_;
};

}  // namespace

std::string condition_to_sql(const Json& condition, const AudienceSchema& schema,
                             const SqlQuoting& quoting) {
  return Renderer(schema, quoting).node(condition);
}

}  // namespace pgj::core
