// Audience columns read from the catalog and classified (columns.hpp), and
// journey._audience_columns, which shows the same classification to SQL.
#include "pg/columns.hpp"

#include "pg/bridge.hpp"
#include "pg/convert.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace pgj::pg {

namespace oid = core::type_oid;
static_assert(oid::kBool == BOOLOID && oid::kName == NAMEOID && oid::kInt8 == INT8OID &&
              oid::kInt2 == INT2OID && oid::kInt4 == INT4OID && oid::kText == TEXTOID &&
              oid::kJson == JSONOID && oid::kFloat4 == FLOAT4OID && oid::kFloat8 == FLOAT8OID &&
              oid::kBpchar == BPCHAROID && oid::kVarchar == VARCHAROID && oid::kDate == DATEOID &&
              oid::kTimestamp == TIMESTAMPOID && oid::kTimestampTz == TIMESTAMPTZOID &&
              oid::kNumeric == NUMERICOID && oid::kUuid == UUIDOID && oid::kJsonb == JSONBOID);

core::ColumnClass column_class_of(Oid type) {
  core::ColumnTypeFacts facts;
  char name[NAMEDATALEN] = {0};
  pg_guard([&] {
    Oid base = getBaseType(type);
    facts.base_oid = base;
    HeapTuple tuple = SearchSysCache1(TYPEOID, ObjectIdGetDatum(base));
    if (!HeapTupleIsValid(tuple)) elog(ERROR, "pg_journey: cache lookup failed for type %u", base);
    Form_pg_type form = reinterpret_cast<Form_pg_type>(GETSTRUCT(tuple));
    strlcpy(name, NameStr(form->typname), NAMEDATALEN);
    facts.is_enum = form->typtype == TYPTYPE_ENUM;
    ReleaseSysCache(tuple);
  });
  facts.base_name = name;
  return core::classify_column(facts);
}

std::vector<AudienceColumn> read_audience_columns(Oid relid) {
  std::vector<AudienceColumn> columns;
  for (const Row& c : spi_rows("SELECT a.attnum::text, a.attname::text,"
                               "       format_type(a.atttypid, a.atttypmod),"
                               "       a.atttypid::text, a.atttypmod::text"
                               "  FROM pg_attribute a"
                               " WHERE a.attrelid = $1::oid AND a.attnum > 0"
                               "   AND NOT a.attisdropped"
                               " ORDER BY a.attnum",
                               {std::to_string(relid)})) {
    AudienceColumn column;
    column.attnum = std::stoi(*c[0]);
    column.name = *c[1];
    column.type_name = *c[2];
    column.type = static_cast<Oid>(std::stoul(*c[3]));
    column.typmod = static_cast<int32>(std::stol(*c[4]));
    column.kind = column_class_of(column.type);
    columns.push_back(std::move(column));
  }
  return columns;
}

}  // namespace pgj::pg

using namespace pgj;

// journey._audience_columns(relation regclass): the relation's columns with
// their type and category (bool, int, float, text, timestamp, date, json,
// other). The DDL guard calls it, so it runs whatever the installed version.
PGJ_FUNCTION_ANY_VERSION(pgj_audience_columns) {
  Oid relid = PG_GETARG_OID(0);
  pg::SpiConnection spi;
  std::vector<pg::AudienceColumn> columns = pg::read_audience_columns(relid);
  spi.finish();
  pg::pg_guard([&] { InitMaterializedSRF(fcinfo, 0); });
  for (const pg::AudienceColumn& c : columns) {
    Datum values[4] = {Int32GetDatum(c.attnum), pg::string_to_text(c.name),
                       pg::string_to_text(c.type_name),
                       pg::string_to_text(core::column_category(c.kind.type))};
    bool nulls[4] = {false, false, false, false};
    pg::pg_guard([&] {
      auto* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
      tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    });
  }
  return static_cast<Datum>(0);
}
