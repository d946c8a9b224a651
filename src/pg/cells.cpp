// Binary datums into the core's values (cells.hpp).
#include "pg/cells.hpp"

#include "pg/bridge.hpp"
#include "pg/columns.hpp"
#include "pg/datum.hpp"

extern "C" {
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
}

namespace pgj::pg {

using core::DatumReader;

CellReader cell_reader(Oid type) {
  CellReader r;
  r.reader = column_class_of(type).reader;
  if (r.reader == DatumReader::Output)
    pg_guard([&] {
      bool varlena;
      getTypeOutputInfo(type, &r.output_function, &varlena);
    });
  return r;
}

void read_datum(Datum d, bool isnull, const CellReader& r, RawCell& c) {
  c = RawCell{};
  c.null = isnull;
  if (isnull) return;
  switch (r.reader) {
    case DatumReader::Bool:
      c.integer = DatumGetBool(d);
      break;
    case DatumReader::Int2:
      c.integer = DatumGetInt16(d);
      break;
    case DatumReader::Int4:
      c.integer = DatumGetInt32(d);
      break;
    case DatumReader::Int8:
      c.integer = DatumGetInt64(d);
      break;
    case DatumReader::Float4:
      c.real = DatumGetFloat4(d);
      break;
    case DatumReader::Float8:
      c.real = DatumGetFloat8(d);
      break;
    case DatumReader::Numeric:
      c.real = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, d));
      break;
    case DatumReader::Timestamp:
      c.integer = pg_to_unix(DatumGetTimestampTz(d));
      break;
    case DatumReader::Date:
      c.integer = date_to_unix(DatumGetDateADT(d));
      break;
    case DatumReader::Text:
    case DatumReader::Bpchar: {
      struct varlena* v =
          pg_detoast_datum_packed(reinterpret_cast<struct varlena*>(DatumGetPointer(d)));
      c.text = VARDATA_ANY(v);
      c.length = static_cast<int>(VARSIZE_ANY_EXHDR(v));
      if (r.reader == DatumReader::Bpchar)
        while (c.length > 0 && c.text[c.length - 1] == ' ') --c.length;
      break;
    }
    case DatumReader::Output:
      c.text = OidOutputFunctionCall(r.output_function, d);
      c.length = static_cast<int>(strlen(c.text));
      break;
  }
}

core::Value cell_value(const RawCell& c, DatumReader reader) {
  if (c.null) return std::monostate{};
  switch (reader) {
    case DatumReader::Bool:
      return c.integer != 0;
    case DatumReader::Int2:
    case DatumReader::Int4:
    case DatumReader::Int8:
      return c.integer;
    case DatumReader::Float4:
    case DatumReader::Float8:
    case DatumReader::Numeric:
      return c.real;
    case DatumReader::Timestamp:
    case DatumReader::Date:
      return core::Timestamp{c.integer};
    case DatumReader::Text:
    case DatumReader::Bpchar:
    case DatumReader::Output:
      return std::string(c.text, c.length);
  }
  return std::monostate{};
}

std::string cell_text(const RawCell& c, DatumReader reader) {
  switch (reader) {
    case DatumReader::Int2:
    case DatumReader::Int4:
    case DatumReader::Int8:
      return std::to_string(c.integer);
    default:
      return std::string(c.text ? c.text : "", c.length);
  }
}

std::vector<std::vector<core::Value>> spi_result_values() {
  uint64 count = 0;
  int natts = 0;
  pg_guard([&] {
    count = SPI_tuptable ? SPI_processed : 0;
    natts = SPI_tuptable ? SPI_tuptable->tupdesc->natts : 0;
  });
  std::vector<CellReader> readers(natts);
  for (int c = 0; c < natts; ++c)
    readers[c] = cell_reader(pg_guard([&] { return SPI_gettypeid(SPI_tuptable->tupdesc, c + 1); }));
  std::vector<RawCell> cells(natts);
  std::vector<std::vector<core::Value>> rows(count, std::vector<core::Value>(natts));
  // One row at a time: text cells point into the result table (or, for Output
  // readers, into memory of the current context), copied before the next row.
  for (uint64 i = 0; i < count; ++i) {
    RawCell* row = cells.data();
    const CellReader* r = readers.data();
    pg_guard([&] {
      HeapTuple tuple = SPI_tuptable->vals[i];
      for (int c = 0; c < natts; ++c) {
        bool isnull = false;
        Datum d = SPI_getbinval(tuple, SPI_tuptable->tupdesc, c + 1, &isnull);
        read_datum(d, isnull, r[c], row[c]);
      }
    });
    for (int c = 0; c < natts; ++c) rows[i][c] = cell_value(row[c], readers[c].reader);
  }
  pg_guard([] {
    if (SPI_tuptable) {
      SPI_freetuptable(SPI_tuptable);
      SPI_tuptable = nullptr;
    }
  });
  return rows;
}

int64_t value_int(const core::Value& v) {
  if (const int64_t* i = std::get_if<int64_t>(&v)) return *i;
  if (const bool* b = std::get_if<bool>(&v)) return *b;
  if (const core::Timestamp* t = std::get_if<core::Timestamp>(&v))
    return t->micros_since_unix_epoch;
  return 0;
}

std::string value_text(const core::Value& v) {
  if (const std::string* s = std::get_if<std::string>(&v)) return *s;
  return {};
}

bool value_bool(const core::Value& v) {
  if (const bool* b = std::get_if<bool>(&v)) return *b;
  return false;
}

}  // namespace pgj::pg
