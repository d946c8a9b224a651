// SPI helpers: every PostgreSQL call goes through pg_guard.
#include "pg/spi.hpp"

#include "pg/bridge.hpp"
#include "pg/convert.hpp"

extern "C" {
#include "executor/spi_priv.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
}

namespace pgj::pg {

namespace {

// The memory context of every plan pg_journey keeps (SPI_keepplan puts them
// under CacheMemoryContext): pg_backend_memory_contexts shows what they hold
// as "pg_journey plan cache". Created on first use; lives with the backend.
MemoryContext plan_cache_context() {
  static MemoryContext context = nullptr;
  if (!context)
    context =
        AllocSetContextCreate(CacheMemoryContext, "pg_journey plan cache", ALLOCSET_SMALL_SIZES);
  return context;
}

// Moves a kept plan's memory (its sources and, once built, their generic
// plans) under plan_cache_context. A PostgreSQL call: run inside pg_guard.
void adopt_plan(SPIPlanPtr plan) {
  MemoryContext cache = plan_cache_context();
  if (MemoryContextGetParent(plan->plancxt) != cache) MemoryContextSetParent(plan->plancxt, cache);
  ListCell* lc;
  foreach (lc, plan->plancache_list) {
    auto* source = static_cast<CachedPlanSource*>(lfirst(lc));
    if (source->is_saved && MemoryContextGetParent(source->context) != cache)
      MemoryContextSetParent(source->context, cache);
    if (source->gplan && source->gplan->is_saved &&
        MemoryContextGetParent(source->gplan->context) != cache)
      MemoryContextSetParent(source->gplan->context, cache);
  }
}

}  // namespace

SpiConnection::SpiConnection() {
  pg_guard([] {
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "pg_journey: SPI_connect failed");
  });
}

void SpiConnection::finish() {
  pg_guard([] { SPI_finish(); });
}

std::vector<Row> spi_result_rows() {
  struct Raw {
    uint64 rows;
    int cols;
    char** cells;  // rows * cols, null for SQL NULL
  };
  Raw raw = pg_guard([&] {
    Raw r{SPI_processed, SPI_tuptable ? SPI_tuptable->tupdesc->natts : 0, nullptr};
    if (r.rows > 0 && r.cols > 0) {
      r.cells = static_cast<char**>(palloc(sizeof(char*) * r.rows * r.cols));
      for (uint64 i = 0; i < r.rows; ++i)
        for (int c = 0; c < r.cols; ++c)
          r.cells[i * r.cols + c] =
              SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, c + 1);
    }
    return r;
  });
  std::vector<Row> rows;
  rows.reserve(raw.rows);
  for (uint64 i = 0; i < raw.rows; ++i) {
    Row row;
    row.reserve(raw.cols);
    for (int c = 0; c < raw.cols; ++c) {
      const char* cell = raw.cells[i * raw.cols + c];
      row.push_back(cell ? Cell(cell) : std::nullopt);
    }
    rows.push_back(std::move(row));
  }
  pg_guard([&] {
    if (raw.cells) {
      for (uint64 i = 0; i < raw.rows * raw.cols; ++i)
        if (raw.cells[i]) pfree(raw.cells[i]);
      pfree(raw.cells);
    }
    // The result table is read: free it now rather than at SPI_finish.
    if (SPI_tuptable) {
      SPI_freetuptable(SPI_tuptable);
      SPI_tuptable = nullptr;
    }
  });
  return rows;
}

std::vector<Row> spi_rows(const char* sql, const std::vector<Cell>& params, bool read_only) {
  const int nargs = static_cast<int>(params.size());
  std::vector<Oid> types(nargs, TEXTOID);
  std::vector<Datum> values(nargs, 0);
  std::vector<char> nulls(nargs, ' ');
  for (int i = 0; i < nargs; ++i) {
    if (params[i])
      values[i] = string_to_text(*params[i]);
    else
      nulls[i] = 'n';
  }
  pg_guard([&] {
    int rc =
        SPI_execute_with_args(sql, nargs, types.data(), values.data(), nulls.data(), read_only, 0);
    if (rc < 0) elog(ERROR, "pg_journey: SPI failed (%s): %s", SPI_result_code_string(rc), sql);
  });
  return spi_result_rows();
}

namespace {
const TableMap* table_map = nullptr;

bool identifier_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '$' || c == '.' || c == '"' || static_cast<unsigned char>(c) >= 0x80;
}
}  // namespace

std::string map_tables(const std::string& sql, const TableMap& map) {
  std::string out;
  size_t i = 0;
  while (i < sql.size()) {
    bool replaced = false;
    if (i == 0 || !identifier_char(sql[i - 1]))
      for (const auto& [from, to] : map.names)
        if (sql.compare(i, from.size(), from) == 0 &&
            (i + from.size() == sql.size() || !identifier_char(from.back()) ||
             !identifier_char(sql[i + from.size()]))) {
          out += to;
          i += from.size();
          replaced = true;
          break;
        }
    if (!replaced) out += sql[i++];
  }
  return out;
}

void set_table_map(const TableMap* map) {
  table_map = map;
}

const TableMap* current_table_map() {
  return table_map;
}

uint64 PreparedStatement::execute(const Datum* values, const char* nulls, bool read_only) {
  SPIPlanPtr* slot = &plan_;
  std::string mapped;
  if (table_map) {
    slot = &mapped_plans_[table_map->key];
    if (!*slot) mapped = map_tables(sql_, *table_map);
  }
  if (!*slot) {
    const char* sql = mapped.empty() ? sql_.c_str() : mapped.c_str();
    int nargs = static_cast<int>(arg_types_.size());
    Oid* types = arg_types_.data();
    SPIPlanPtr plan_for_slot = pg_guard([&] {
      SPIPlanPtr plan = SPI_prepare(sql, nargs, types);
      if (!plan)
        elog(ERROR, "pg_journey: SPI_prepare failed (%s): %s", SPI_result_code_string(SPI_result),
             sql);
      if (SPI_keepplan(plan) != 0) elog(ERROR, "pg_journey: SPI_keepplan failed");
      adopt_plan(plan);
      return plan;
    });
    *slot = plan_for_slot;
  }
  SPIPlanPtr plan = *slot;
  const char* sql = sql_.c_str();
  return pg_guard([&] {
    int rc = SPI_execute_plan(plan, const_cast<Datum*>(values), nulls, read_only, 0);
    if (rc < 0) elog(ERROR, "pg_journey: SPI failed (%s): %s", SPI_result_code_string(rc), sql);
    adopt_plan(plan);  // a generic plan built by this execution
    return SPI_processed;
  });
}

std::vector<Row> PreparedStatement::rows(const Datum* values, const char* nulls) {
  execute(values, nulls, true);
  return spi_result_rows();
}

void PreparedStatement::reset() {
  std::vector<SPIPlanPtr> plans;
  if (plan_) plans.push_back(plan_);
  for (auto& [key, plan] : mapped_plans_)
    if (plan) plans.push_back(plan);
  plan_ = nullptr;
  mapped_plans_.clear();
  for (SPIPlanPtr plan : plans) pg_guard([&] { SPI_freeplan(plan); });
}

}  // namespace pgj::pg
