// Audience columns as the catalog has them, classified by the core's one
// classification (core::classify_column).
#pragma once
#include <string>
#include <vector>

#include "core/column_class.hpp"
#include "pg/postgres.hpp"

namespace pgj::pg {

// A column of an audience table.
struct AudienceColumn {
  int attnum = 0;
  std::string name;
  std::string type_name;  // format_type(atttypid, atttypmod): for casts and messages
  Oid type = InvalidOid;
  int32 typmod = -1;
  core::ColumnClass kind;
};

// The classification of a column of type `type` (a domain by its base type).
core::ColumnClass column_class_of(Oid type);

// The live columns of relation `relid` in attribute order, each classified:
// one read of pg_attribute (SPI must be connected).
std::vector<AudienceColumn> read_audience_columns(Oid relid);

}  // namespace pgj::pg
