// Binary datums read into plain cells and turned into the core's values: the
// customer-table trigger's transition tables and the tick's SPI results read
// datums by the core's classification of their type (core::DatumReader), not
// text they parse back.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/column_class.hpp"
#include "core/condition.hpp"
#include "pg/postgres.hpp"

namespace pgj::pg {

// How to read the datums of one column.
struct CellReader {
  core::DatumReader reader = core::DatumReader::Output;
  Oid output_function = InvalidOid;  // for DatumReader::Output
};

// One cell read inside pg_guard: plain data only. text points into the tuple
// or into memory of the current memory context.
struct RawCell {
  bool null = true;
  int64_t integer = 0;
  double real = 0;
  const char* text = nullptr;
  int length = 0;
};

// The reader of a column of type `type` (core::classify_column).
CellReader cell_reader(Oid type);

// Reads datum `d` into `cell`. A PostgreSQL call: run it inside pg_guard.
void read_datum(Datum d, bool isnull, const CellReader& r, RawCell& cell);

// The value of a cell (timestamps and dates as core::Timestamp).
core::Value cell_value(const RawCell& cell, core::DatumReader reader);

// The text of a cell as ::text gives it for integers and text types (keys).
std::string cell_text(const RawCell& cell, core::DatumReader reader);

// The rows of SPI_tuptable (after a query), each column read by its type's
// reader, as values (NULL: std::monostate); frees the result table.
std::vector<std::vector<core::Value>> spi_result_values();

// Accessors for spi_result_values' cells: 0, "" or false for NULL.
int64_t value_int(const core::Value& v);
std::string value_text(const core::Value& v);
bool value_bool(const core::Value& v);
inline bool value_null(const core::Value& v) {
  return std::holds_alternative<std::monostate>(v);
}

}  // namespace pgj::pg
