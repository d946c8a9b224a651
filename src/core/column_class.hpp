// The one classification of audience (customer table) columns: from a
// column's type, what conditions, merge tags and update_field may do with it
// and how the pg layer reads its binary datum. journey._audience_columns, the
// validator's schema, the tick's customer read and the customer-table
// trigger all take it from classify_column.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/schema.hpp"

namespace pgj::core {

// PostgreSQL's built-in type OIDs (pg_type.dat; fixed since they were
// assigned, checked against the server's headers in src/pg/columns.cpp).
namespace type_oid {
constexpr uint32_t kBool = 16, kName = 19, kInt8 = 20, kInt2 = 21, kInt4 = 23, kText = 25,
                   kJson = 114, kFloat4 = 700, kFloat8 = 701, kBpchar = 1042, kVarchar = 1043,
                   kDate = 1082, kTimestamp = 1114, kTimestampTz = 1184, kNumeric = 1700,
                   kUuid = 2950, kJsonb = 3802;
}

// How the pg layer turns a column's datum into a Value: directly for by-value
// types, one call for varlena and numeric, the type's output function else.
enum class DatumReader {
  Bool,
  Int2,
  Int4,
  Int8,
  Float4,
  Float8,
  Numeric,    // as float8; merge tags render its exact text (exact_text)
  Timestamp,  // timestamp and timestamptz: Unix micros
  Date,       // its midnight UTC in Unix micros
  Text,       // text, varchar: the bytes
  Bpchar,     // char(n): without its padding, as ::text gives it
  Output      // any other type: its text output
};

// The type of a column as the catalog gives it: its base type (a domain's
// underlying type, else the type itself), that type's name and whether it is
// an enum.
struct ColumnTypeFacts {
  uint32_t base_oid = 0;
  std::string base_name;  // pg_type.typname of the base type
  bool is_enum = false;
};

// What pg_journey may do with a column of a type.
struct ColumnClass {
  ValueType type = ValueType::Other;  // what conditions compare it as
  DatumReader reader = DatumReader::Output;
  // Merge tags render the column's own text rather than the Value (numeric:
  // float8 loses digits).
  bool exact_text = false;
  // May be the e-mail, time zone or a recipient column of the audience, and
  // the `to_field` of a send step.
  bool holds_text() const { return type == ValueType::Text; }
  // A time (timestamp or date): delays may wait until it, conditions compare
  // it with "now"; read as Unix micros.
  bool holds_time() const { return type == ValueType::Timestamp || type == ValueType::Date; }
};

// The classification of a column of this type.
ColumnClass classify_column(const ColumnTypeFacts& facts);

// The category name of a value type, as journey._audience_columns shows it:
// bool, int, float, text, timestamp, date, json or other.
const char* column_category(ValueType type);

// The categories a column's type can be given (other excepted), in the order
// the catalog lists them.
const std::vector<std::string>& column_categories();

}  // namespace pgj::core
