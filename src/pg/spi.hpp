// Small SPI helpers for cold paths (authoring, validation): text parameters in,
// text cells out. Hot paths use prepared plans instead.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace pgj::pg {

using Cell = std::optional<std::string>;  // nullopt = SQL NULL
using Row = std::vector<Cell>;

// Connects SPI for the lifetime of a SQL-callable function's body. On an error
// the transaction aborts and PostgreSQL cleans the SPI stack, so only the happy
// path calls finish().
class SpiConnection {
 public:
  SpiConnection();
  void finish();
};

// Runs `sql` with parameters $1..$n (all of type text; cast them in the SQL) and
// returns every row, each cell in its text output form.
std::vector<Row> spi_rows(const char* sql, const std::vector<Cell>& params = {},
                          bool read_only = true);

}  // namespace pgj::pg

#include <map>
#include <utility>

#include "pg/postgres.hpp"

namespace pgj::pg {

// The tables prepared statements run against in place of the ones they name
// (Citus, docs/scale-out.md: the tick on a node reads and writes the local
// shards of one co-located shard group directly, e.g. journey.enrollments as
// journey.enrollments_102025). `key` names the map (its plans are kept under
// it); `names` maps a qualified name as the statements spell it to another.
struct TableMap {
  std::string key;
  std::vector<std::pair<std::string, std::string>> names;
};

// `sql` with every whole occurrence of a mapped name replaced (an occurrence is
// whole when no identifier character follows or precedes it).
std::string map_tables(const std::string& sql, const TableMap& map);

// While set (not null), PreparedStatement runs its statement mapped by *map,
// with plans kept per map key. The caller keeps *map alive and clears it.
void set_table_map(const TableMap* map);

// The map set now (null when none).
const TableMap* current_table_map();

// Sets a table map (or none) for the scope's life, and puts back the one set
// before however the scope ends (a tick on shards whose update_field fires the
// customer-table trigger, which sets its own).
class TableMapScope {
 public:
  explicit TableMapScope(const TableMap* map) : saved_(current_table_map()) { set_table_map(map); }
  ~TableMapScope() { set_table_map(saved_); }
  TableMapScope(const TableMapScope&) = delete;
  TableMapScope& operator=(const TableMapScope&) = delete;

 private:
  const TableMap* saved_;
};

// A statement prepared once per backend (SPI_keepplan) and run many times: the
// hot path's reads and batched writes.
class PreparedStatement {
 public:
  PreparedStatement(std::string sql, std::vector<Oid> arg_types)
      : sql_(std::move(sql)), arg_types_(std::move(arg_types)) {}
  // Runs with the given datums (nulls: 'n' for SQL NULL, ' ' otherwise);
  // returns SPI_processed. SPI_tuptable holds the rows until the next SPI call.
  uint64 execute(const Datum* values, const char* nulls, bool read_only);
  // Runs and returns every row in text form.
  std::vector<Row> rows(const Datum* values, const char* nulls);
  // Forgets the plan (the extension was recreated).
  void reset();

 private:
  std::string sql_;
  std::vector<Oid> arg_types_;
  SPIPlanPtr plan_ = nullptr;
  std::map<std::string, SPIPlanPtr> mapped_plans_;  // per TableMap key
};

// The rows of SPI_tuptable (after a query) in text form; frees the result table.
std::vector<Row> spi_result_rows();

}  // namespace pgj::pg
