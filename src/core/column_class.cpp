// The one classification of audience columns (column_class.hpp).
#include "core/column_class.hpp"

namespace pgj::core {

ColumnClass classify_column(const ColumnTypeFacts& facts) {
  namespace oid = type_oid;
  auto of = [](ValueType type, DatumReader reader, bool exact_text = false) {
    ColumnClass c;
    c.type = type;
    c.reader = reader;
    c.exact_text = exact_text;
    return c;
  };
  switch (facts.base_oid) {
    case oid::kBool:
      return of(ValueType::Bool, DatumReader::Bool);
    case oid::kInt2:
      return of(ValueType::Int, DatumReader::Int2);
    case oid::kInt4:
      return of(ValueType::Int, DatumReader::Int4);
    case oid::kInt8:
      return of(ValueType::Int, DatumReader::Int8);
    case oid::kFloat4:
      return of(ValueType::Float, DatumReader::Float4);
    case oid::kFloat8:
      return of(ValueType::Float, DatumReader::Float8);
    case oid::kNumeric:
      return of(ValueType::Float, DatumReader::Numeric, /*exact_text=*/true);
    case oid::kText:
    case oid::kVarchar:
      return of(ValueType::Text, DatumReader::Text);
    case oid::kBpchar:
      return of(ValueType::Text, DatumReader::Bpchar);
    case oid::kName:
    case oid::kUuid:
      return of(ValueType::Text, DatumReader::Output);
    case oid::kTimestamp:
    case oid::kTimestampTz:
      return of(ValueType::Timestamp, DatumReader::Timestamp);
    case oid::kDate:
      return of(ValueType::Date, DatumReader::Date);
    case oid::kJson:
    case oid::kJsonb:
      return of(ValueType::Json, DatumReader::Output);
    default:
      break;
  }
  // Enums and citext (an extension's type: known by name) compare as text.
  if (facts.is_enum || facts.base_name == "citext") return of(ValueType::Text, DatumReader::Output);
  return of(ValueType::Other, DatumReader::Output);
}

const char* column_category(ValueType type) {
  switch (type) {
    case ValueType::Bool:
      return "bool";
    case ValueType::Int:
      return "int";
    case ValueType::Float:
      return "float";
    case ValueType::Text:
      return "text";
    case ValueType::Timestamp:
      return "timestamp";
    case ValueType::Date:
      return "date";
    case ValueType::Json:
      return "json";
    case ValueType::Other:
      return "other";
  }
  return "other";
}

const std::vector<std::string>& column_categories() {
  static const std::vector<std::string> categories = [] {
    std::vector<std::string> c;
    for (ValueType t : {ValueType::Bool, ValueType::Int, ValueType::Float, ValueType::Text,
                        ValueType::Timestamp, ValueType::Date, ValueType::Json})
      c.push_back(column_category(t));
    return c;
  }();
  return categories;
}

}  // namespace pgj::core
