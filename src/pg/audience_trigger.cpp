// The statement-level trigger register_audience installs on a customer table.
// In the transaction of the INSERT / UPDATE / DELETE that caused them, it
//  - enrolls rows whose attribute entry trigger went from false to true,
//  - ends enrollments whose customer now matches a condition exit rule,
//  - makes due the enrollments parked at a wait_until step that now matches,
//  - ends the enrollments of deleted customers (exit_reason 'customer_deleted').
// The transition tables are read once; conditions are the compiled ones of the
// published versions; only conditions that read an updated column are
// evaluated. Database writes are a few set-based statements per statement.
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/condition.hpp"
#include "core/engine.hpp"
#include "core/error.hpp"
#include "core/footprint.hpp"
#include "core/row_rules.hpp"
#include "pg/bridge.hpp"
#include "pg/cache_memory.hpp"
#include "pg/cells.hpp"
#include "pg/convert.hpp"
#include "pg/datum.hpp"
#include "pg/journey_cache.hpp"
#include "pg/spi.hpp"
#include "pg/worker.hpp"

extern "C" {
#include "commands/trigger.h"
#include "executor/tuptable.h"
#include "nodes/bitmapset.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
}

namespace pgj::pg {
namespace {

using core::RowRules;

// Attribute entry conditions of a version, compiled once per backend; each
// entry's memory shows under "pg_journey trigger entries".
struct EntryConditions {
  std::vector<core::CompiledCondition> conditions;
  EntryMemory memory;
};
std::map<std::pair<int64_t, int32_t>, EntryConditions> entry_cache;

// The attribute entry conditions of a version, compiled against the audience.
std::vector<core::CompiledCondition> compile_entries(int64_t journey_id, int32_t version,
                                                     const AudienceInfo& audience) {
  auto rows = spi_rows(
      "SELECT t.config->'when' FROM journey.entry_triggers t"
      " WHERE t.journey_id = $1::int8 AND t.version = $2::int4 AND t.type = 'attribute'"
      " ORDER BY t.position",
      {std::to_string(journey_id), std::to_string(version)});
  std::vector<core::CompiledCondition> compiled;
  core::ConditionScope scope;
  scope.trigger_ops = true;
  scope.where = "attribute entry trigger";
  for (const Row& row : rows) {
    if (!row[0]) continue;
    core::CompileResult result =
        core::compile_condition(core::Json::parse(*row[0]), &audience.schema, scope);
    if (!result.ok())
      throw core::Error("XX000", "attribute trigger of journey " + std::to_string(journey_id) +
                                     " does not compile: " + result.errors.front());
    compiled.push_back(std::move(result.condition));
  }
  return compiled;
}

const std::vector<core::CompiledCondition>& attribute_entries(int64_t journey_id, int32_t version,
                                                              const AudienceInfo& audience) {
  auto key = std::make_pair(journey_id, version);
  auto it = entry_cache.find(key);
  if (it != entry_cache.end()) return it->second.conditions;
  std::vector<core::CompiledCondition> compiled = compile_entries(journey_id, version, audience);
  EntryConditions& entry = entry_cache[key];
  entry.conditions = std::move(compiled);
  size_t bytes = core::heap_chunk(32 + sizeof(decltype(entry_cache)::value_type)) +
                 core::heap_bytes(entry.conditions);
  entry.memory = EntryMemory(
      Cache::TriggerEntries,
      "journey " + std::to_string(journey_id) + " version " + std::to_string(version), bytes);
  return entry.conditions;
}

// Versions that do not compile against the table and need not be reported
// again: retired versions without active enrollments (they never run again).
// Forgotten with the cache (an ALTER TABLE may fix them).
std::set<std::pair<int64_t, int32_t>> quietly_skipped;

// A version whose rules do not compile against the table's current shape (a
// column they read was renamed, retyped or dropped with the DDL guard
// bypassed) is skipped, so that writes it does not concern keep working: its
// attribute triggers, condition exits and wait_until wake-ups do not fire for
// this statement, and a WARNING says so and why. The tick fails that version's
// enrollments (their last_error says why) until the table or the journey is
// fixed. A retired version without active enrollments is skipped silently.
void skip_uncompilable(int64_t journey_id, int32_t version, bool live, const std::string& problem,
                       const AudienceInfo* audience) {
  auto key = std::make_pair(journey_id, version);
  if (quietly_skipped.count(key)) return;
  if (!live) {
    auto active = spi_rows(
        "SELECT EXISTS (SELECT 1 FROM journey.enrollments e WHERE e.journey_id = $1::int8"
        "                  AND e.version = $2::int4 AND e.status = 'active')",
        {std::to_string(journey_id), std::to_string(version)});
    if (active.empty() || *active[0][0] != "t") {
      quietly_skipped.insert(key);
      return;
    }
  }
  auto named = spi_rows("SELECT name FROM journey.journeys WHERE id = $1::int8",
                        {std::to_string(journey_id)});
  std::string message = "journey \"" + (named.empty() ? std::to_string(journey_id) : *named[0][0]) +
                        "\" version " + std::to_string(version) +
                        " is skipped: its rules do not compile against table " +
                        (audience ? audience->qualified_name : std::string("?"));
  const char* text = message.c_str();
  const char* detail = problem.c_str();
  pg_guard([&] {
    ereport(
        WARNING,
        (errcode(ERRCODE_WARNING), errmsg_internal("%s", text), errdetail_internal("%s", detail),
         errhint("its attribute triggers, condition exits and wait_until wake-ups do not "
                 "fire until the table fits it again or a version that fits the table is "
                 "published; its enrollments fail in the tick")));
  });
}

// Whether the audience's key column still exists (a WARNING otherwise: the
// rows' customers cannot be told apart, so nothing fires).
bool key_column_present(const AudienceInfo& audience) {
  if (audience.schema.find(audience.schema.key_column) >= 0) return true;
  std::string message = "pg_journey triggers of table " + audience.qualified_name +
                        " are skipped: its key column \"" + audience.schema.key_column +
                        "\" does not exist";
  const char* text = message.c_str();
  pg_guard([&] {
    ereport(WARNING, (errcode(ERRCODE_WARNING), errmsg_internal("%s", text),
                      errhint("rename the column back, or register the table again with its "
                              "key column (journey.register_audience)")));
  });
  return false;
}

// The audience's journeys in the states core's trigger rule reads, each with
// its versions of the statuses it reads (core::trigger_journey_states,
// core::trigger_version_statuses: $2, $3), or one row without a version.
PreparedStatement versions_statement(
    "SELECT j.id, j.state::text, v.version, v.status::text,"
    "       coalesce(v.version = j.published_version, false)"
    "  FROM journey.journeys j LEFT JOIN journey.versions v ON v.journey_id = j.id"
    "   AND v.status::text = ANY ($3)"
    " WHERE j.audience = $1 AND j.state::text = ANY ($2)",
    {OIDOID, TEXTARRAYOID, TEXTARRAYOID});

// Both end enrollments through journey._end_enrollments (src/pg/ending.cpp),
// which also writes the activity row of the step they end at. On a Citus shard
// the table map set below (shard_map) maps its statement too.
PreparedStatement exit_statement(
    "SELECT journey._end_enrollments(array_agg(e.id), array_agg('exited'::text), array_agg(u.r),"
    "                                array_agg(u.g = 't'), p_customers => array_agg(e.customer_id))"
    "  FROM unnest($1::text[], $2::int8[], $3::int4[], $4::text[], $5::text[]) u(c, j, v, r, g)"
    "  JOIN journey.enrollments e ON e.customer_id = u.c AND e.journey_id = u.j"
    "   AND e.version = u.v AND e.status = 'active'"
    " HAVING count(*) > 0",
    {TEXTARRAYOID, INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID});

PreparedStatement wake_statement(
    "UPDATE journey.enrollments e SET next_run_at = now()"
    "  FROM unnest($1::text[], $2::int8[], $3::int4[], $4::text[]) u(c, j, v, s)"
    " WHERE e.status = 'active' AND e.customer_id = u.c AND e.journey_id = u.j"
    "   AND e.version = u.v AND e.step_key = u.s AND e.parked_at IS NOT NULL"
    "   AND (e.next_run_at IS NULL OR e.next_run_at > now())",
    {TEXTARRAYOID, INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID});

PreparedStatement delete_statement(
    "SELECT journey._end_enrollments(array_agg(e.id), array_agg('exited'::text),"
    "                                array_agg('customer_deleted'::text),"
    "                                p_customers => array_agg(e.customer_id))"
    "  FROM journey.enrollments e JOIN journey.journeys j ON j.id = e.journey_id"
    " WHERE e.status = 'active' AND e.customer_id = ANY($1) AND j.audience = $2"
    " HAVING count(*) > 0",
    {TEXTARRAYOID, OIDOID});

PreparedStatement enroll_statement("SELECT cardinality(journey._enroll_rows($1, $2))",
                                   {INT8OID, TEXTARRAYOID});

struct ColumnReader {
  int attnum = 0;  // 1-based
  CellReader cell;
};

// Reads the listed columns of the slot's tuple (pg_guard around it).
void read_cells(TupleTableSlot* slot, const ColumnReader* readers, size_t count, RawCell* cells) {
  for (size_t i = 0; i < count; ++i) {
    bool isnull = false;
    Datum d = slot_getattr(slot, readers[i].attnum, &isnull);
    read_datum(d, isnull, readers[i].cell, cells[i]);
  }
}

// Streams the rows of a transition table: the customer key and the values of
// the `needed` columns, into buffers reused from row to row (a bulk statement
// reads hundreds of thousands of rows; nothing per row is kept).
class TransitionReader {
 public:
  TransitionReader(Tuplestorestate* store, TupleDesc desc, const AudienceInfo& audience,
                   const std::vector<int>& needed)
      : store_(store), row_(audience.schema.columns.size()) {
    if (!store_) return;
    const auto& columns = audience.schema.columns;
    auto reader_for = [&](int column) {
      ColumnReader r;
      Oid type = InvalidOid;
      const char* name = columns[column].name.c_str();
      pg_guard([&] {
        for (int a = 0; a < desc->natts; ++a) {
          Form_pg_attribute att = TupleDescAttr(desc, a);
          if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0) {
            r.attnum = a + 1;
            type = att->atttypid;
            break;
          }
        }
      });
      if (r.attnum != 0) r.cell = cell_reader(type);
      if (r.attnum == 0)
        throw core::Error(
            "XX000", "audience column \"" + columns[column].name + "\" is missing from its table");
      return r;
    };
    // Reader 0 is the key; then the needed columns.
    readers_.push_back(reader_for(audience.schema.find(audience.schema.key_column)));
    targets_.push_back(-1);
    for (int column : needed) {
      readers_.push_back(reader_for(column));
      targets_.push_back(column);
    }
    cells_.resize(readers_.size());
    slot_ = pg_guard([&] {
      tuplestore_rescan(store_);
      return MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
    });
    cell_context_ = pg_guard([] {
      return AllocSetContextCreate(CurrentMemoryContext, "pg_journey trigger cells",
                                   ALLOCSET_DEFAULT_SIZES);
    });
  }
  ~TransitionReader() {
    if (!slot_) return;
    TupleTableSlot* slot = slot_;
    MemoryContext context = cell_context_;
    try {
      pg_guard([&] {
        ExecDropSingleTupleTableSlot(slot);
        MemoryContextDelete(context);
      });
    } catch (...) {
      // Freed with the trigger's memory context anyway.
    }
  }
  TransitionReader(const TransitionReader&) = delete;
  TransitionReader& operator=(const TransitionReader&) = delete;

  // Advances to the next row; false at the end. Cells are decoded on demand:
  // most rows of a bulk statement need a few columns, and the key (a string)
  // only when something fires.
  bool next() {
    if (!slot_) return false;
    TupleTableSlot* slot = slot_;
    Tuplestorestate* store = store_;
    bool got = pg_guard([&] { return tuplestore_gettupleslot(store, true, false, slot); });
    key_ready_ = values_ready_ = false;
    return got;
  }

  const std::string& key() {
    if (!key_ready_) {
      decode(0, 1);
      key_ = cell_text(cells_[0], readers_[0].cell.reader);
      key_ready_ = true;
    }
    return key_;
  }

  const std::vector<core::Value>& row() {
    if (!values_ready_) {
      decode(1, readers_.size());
      for (size_t i = 1; i < readers_.size(); ++i)
        row_[targets_[i]] = cell_value(cells_[i], readers_[i].cell.reader);
      values_ready_ = true;
    }
    return row_;
  }

 private:
  // Reads cells [from, to) of the current tuple; the copies they point to live
  // until the next decode.
  void decode(size_t from, size_t to) {
    TupleTableSlot* slot = slot_;
    MemoryContext context = cell_context_;
    RawCell* cells = cells_.data() + from;
    const ColumnReader* readers = readers_.data() + from;
    size_t count = to - from;
    pg_guard([&] {
      MemoryContextReset(context);
      MemoryContext outer = MemoryContextSwitchTo(context);
      read_cells(slot, readers, count, cells);
      MemoryContextSwitchTo(outer);
    });
  }

  Tuplestorestate* store_;
  std::vector<ColumnReader> readers_;
  std::vector<int> targets_;  // audience column index of each reader (-1: the key)
  std::vector<RawCell> cells_;
  TupleTableSlot* slot_ = nullptr;
  MemoryContext cell_context_ = nullptr;
  std::string key_;
  std::vector<core::Value> row_;  // values of the needed columns; the others stay null
  bool key_ready_ = false;
  bool values_ready_ = false;
};

struct Effects {
  std::map<int64_t, std::vector<std::optional<std::string>>> entries;  // journey -> customers
  std::vector<std::optional<std::string>> exit_customer, exit_reason, exit_goal, wake_customer,
      wake_step;
  std::vector<int64_t> exit_journey, wake_journey;
  std::vector<int32_t> exit_version, wake_version;
};

// Adds what core decided for the row of customer `key` to the statement's effects.
void add_effects(const core::RowEffects& row, const std::vector<RowRules>& rules,
                 const std::string& key, Effects& fx) {
  for (size_t i : row.entered) fx.entries[rules[i].journey_id].push_back(key);
  for (const core::RowEffects::Exit& e : row.exits) {
    fx.exit_customer.push_back(key);
    fx.exit_journey.push_back(rules[e.rule].journey_id);
    fx.exit_version.push_back(rules[e.rule].version);
    fx.exit_reason.push_back(e.exit->reason);
    fx.exit_goal.push_back(std::string(e.exit->is_goal ? "t" : "f"));
  }
  for (const core::RowEffects::Wake& w : row.wakes) {
    fx.wake_customer.push_back(key);
    fx.wake_journey.push_back(rules[w.rule].journey_id);
    fx.wake_version.push_back(rules[w.rule].version);
    fx.wake_step.push_back(w.wait->step_key);
  }
}

void write_effects(Effects& fx) {
  if (!fx.exit_customer.empty()) {
    Datum args[5] = {text_array(fx.exit_customer), int8_array(fx.exit_journey),
                     int4_array(fx.exit_version), text_array(fx.exit_reason),
                     text_array(fx.exit_goal)};
    const char nulls[5] = {' ', ' ', ' ', ' ', ' '};
    exit_statement.execute(args, nulls, false);
  }
  if (!fx.wake_customer.empty()) {
    Datum args[4] = {text_array(fx.wake_customer), int8_array(fx.wake_journey),
                     int4_array(fx.wake_version), text_array(fx.wake_step)};
    const char nulls[4] = {' ', ' ', ' ', ' '};
    if (wake_statement.execute(args, nulls, false) > 0)
      pg_guard([] { wake_workers_after_commit(); });
  }
  for (auto& [journey_id, customers] : fx.entries) {
    Datum args[2] = {Int64GetDatum(journey_id), text_array(customers)};
    const char nulls[2] = {' ', ' '};
    enroll_statement.execute(args, nulls, false);
  }
}

// The columns an UPDATE set (flags indexed like the audience's columns);
// false when every condition must be evaluated: the set columns are unknown,
// a BEFORE UPDATE row trigger may change others (partitions may have their
// own), or the key changed (a new key makes every row a new customer:
// docs/triggers.md, "Key changes").
bool updated_columns(TriggerData* trigdata, const AudienceInfo& audience,
                     std::vector<bool>& updated) {
  Relation rel = trigdata->tg_relation;
  bool before_row_triggers = (rel->trigdesc && rel->trigdesc->trig_update_before_row) ||
                             rel->rd_rel->relkind == RELKIND_PARTITIONED_TABLE;
  if (!trigdata->tg_updatedcols || before_row_triggers) return false;
  const size_t ncolumns = audience.schema.columns.size();
  updated.assign(ncolumns, false);
  TupleDesc desc = RelationGetDescr(rel);
  for (size_t c = 0; c < ncolumns; ++c) {
    const char* name = audience.schema.columns[c].name.c_str();
    updated[c] = pg_guard([&] {
      for (int a = 0; a < desc->natts; ++a) {
        Form_pg_attribute att = TupleDescAttr(desc, a);
        if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
          return bms_is_member(a + 1 - FirstLowInvalidHeapAttributeNumber,
                               trigdata->tg_updatedcols);
      }
      return false;
    });
  }
  int key = audience.schema.find(audience.schema.key_column);
  return !(key >= 0 && updated[key]);
}

// The row rules of the versions a change of table relid can trigger
// (core::trigger_scope); sets audience to the table's (when a version loads).
// Versions whose rules do not compile against the table are skipped: the
// trigger reports them (skip_uncompilable); asked by journey._audience_capture
// (`capture` set), nothing is reported or cached (a lifecycle call's backend
// keeps nothing compiled: compile_version) and no rules are returned; every
// journey and version read is added to *capture with what its rules hold, for
// core::capture_needs. One reading of the versions for both, so the capture
// cannot drift from the trigger.
std::vector<RowRules> load_rules(Oid relid, std::shared_ptr<const AudienceInfo>& audience,
                                 std::vector<core::TriggerVersion>* capture = nullptr) {
  auto as_array = [](const std::vector<std::string>& values) {
    return text_array(std::vector<std::optional<std::string>>(values.begin(), values.end()));
  };
  Datum vargs[3] = {ObjectIdGetDatum(relid), as_array(core::trigger_journey_states()),
                    as_array(core::trigger_version_statuses())};
  const char vnulls[3] = {' ', ' ', ' '};
  std::vector<RowRules> rules;
  for (const Row& row : versions_statement.rows(vargs, vnulls)) {
    core::TriggerVersion seen;
    seen.journey_state = *row[1];
    seen.version_status = row[3];
    seen.published_version = *row[4] == "t";
    if (capture) capture->push_back(seen);
    if (!row[2]) continue;
    const core::TriggerScope scope =
        core::trigger_scope(seen.journey_state, *seen.version_status, seen.published_version);
    if (!scope.rules) continue;
    int64_t journey_id = std::stoll(*row[0]);
    int32_t version = static_cast<int32_t>(std::stol(*row[2]));
    if (!capture && quietly_skipped.count({journey_id, version})) continue;
    // Compile problems are the journey's, not the statement's (PostgreSQL
    // errors, PgError, still end the statement).
    const CachedJourney* compiled = nullptr;
    std::unique_ptr<CachedJourney> uncached;  // capture: dropped with this iteration
    RowRules r;
    r.journey_id = journey_id;
    r.version = version;
    std::string problem;
    try {
      if (capture) {
        uncached = compile_version(journey_id, version);
        compiled = uncached.get();
        if (scope.entries) r.entries = compile_entries(journey_id, version, *compiled->audience);
      } else {
        compiled = &cached_journey(journey_id, version);
        if (scope.entries) r.entries = attribute_entries(journey_id, version, *compiled->audience);
      }
    } catch (const core::Error& e) {
      problem = e.what();
    }
    if (!problem.empty()) {
      if (capture) {
        capture->back().compiles = false;
        continue;
      }
      if (!audience) audience = cached_audience(relid);
      skip_uncompilable(journey_id, version, scope.entries, problem, audience.get());
      continue;
    }
    const CachedJourney& cached = *compiled;
    audience = cached.audience;
    for (const core::CompiledExitRule& exit : cached.compiled.exit_rules)
      if (exit.kind == core::CompiledExitRule::Kind::Condition && exit.condition)
        r.exits.push_back({core::exit_reason_of(exit), exit.is_goal, &*exit.condition});
    for (const core::CompiledStep& step : cached.compiled.steps)
      if (step.type == core::StepType::WaitUntil && step.condition)
        r.waits.push_back({step.key, &*step.condition});
    if (capture) {  // its rules point into `uncached`: not kept
      capture->back().entries = !r.entries.empty();
      capture->back().exits = !r.exits.empty();
      capture->back().waits = !r.waits.empty();
      continue;
    }
    if (!r.entries.empty() || !r.exits.empty() || !r.waits.empty()) rules.push_back(std::move(r));
  }
  return rules;
}

// Whether the relation's name ends in _<digits>, as a Citus shard's does.
bool has_shard_suffix(Relation rel) {
  const char* name = RelationGetRelationName(rel);
  size_t length = strlen(name), digits = 0;
  while (digits < length && name[length - 1 - digits] >= '0' && name[length - 1 - digits] <= '9')
    ++digits;
  return digits > 0 && digits < length && name[length - 1 - digits] == '_';
}

// On a Citus node, a statement on a distributed audience fires this trigger on
// each of its shards (docs/scale-out.md). The shard (its name ends in
// _<shard id>) stands for its table, `relid` becomes that table; and `map`
// maps the journey tables to the shards co-located with this one, on this node,
// so that the statements below write only those. False elsewhere.
bool shard_map(Relation rel, Oid& relid, TableMap& map) {
  const char* name = RelationGetRelationName(rel);
  const char* schema = pg_guard([&] { return get_namespace_name(RelationGetNamespace(rel)); });
  auto rows = spi_rows(
      "SELECT logical::oid, relation, shard_relation FROM journey._citus_shard_group($1, $2)",
      {std::string(schema ? schema : ""), std::string(name)});
  if (rows.empty()) return false;
  relid = static_cast<Oid>(std::stoul(*rows[0][0]));
  map.key = "trigger:" + std::string(name);
  for (const Row& row : rows) map.names.emplace_back(*row[1], *row[2]);
  return true;
}

// Forgets the compiled entry conditions, the quietly skipped versions and the
// plans when the journey cache was dropped (SPI connected).
void refresh_trigger_caches() {
  static uint64_t seen_generation = 0;
  if (uint64_t generation = refresh_cache_generation(); generation != seen_generation) {
    seen_generation = generation;
    entry_cache.clear();
    quietly_skipped.clear();
    for (PreparedStatement* s : {&versions_statement, &exit_statement, &wake_statement,
                                 &delete_statement, &enroll_statement})
      s->reset();
  }
}

void fire(TriggerData* trigdata, Oid relid);

void fire(TriggerData* trigdata) {
  Oid relid = RelationGetRelid(trigdata->tg_relation);
  TableMap map;
  bool on_shard = false;
  if (has_shard_suffix(trigdata->tg_relation)) {  // no query for other names
    SpiConnection spi;
    on_shard = shard_map(trigdata->tg_relation, relid, map);
    spi.finish();
  }
  TableMapScope scope(on_shard ? &map : nullptr);
  fire(trigdata, relid);
}

void fire(TriggerData* trigdata, Oid relid) {
  Relation rel = trigdata->tg_relation;
  TriggerEvent event = trigdata->tg_event;
  const bool is_update = TRIGGER_FIRED_BY_UPDATE(event);
  const bool is_delete = TRIGGER_FIRED_BY_DELETE(event);

  SpiConnection spi;
  refresh_trigger_caches();
  CachePin pin;  // the rules below point into the journey cache
  if (is_delete) {
    std::shared_ptr<const AudienceInfo> deleted_from = cached_audience(relid);
    if (!key_column_present(*deleted_from)) {
      spi.finish();
      return;
    }
    std::vector<std::optional<std::string>> keys;
    {  // the reader's slot lives in SPI's memory: done with it before spi.finish()
      TransitionReader deleted(trigdata->tg_oldtable, RelationGetDescr(rel), *deleted_from, {});
      while (deleted.next()) keys.push_back(deleted.key());
    }
    if (!keys.empty()) {
      Datum args[2] = {text_array(keys), ObjectIdGetDatum(relid)};
      const char nulls[2] = {' ', ' '};
      delete_statement.execute(args, nulls, false);
    }
    spi.finish();
    return;
  }

  std::shared_ptr<const AudienceInfo> audience;
  std::vector<RowRules> rules = load_rules(relid, audience);
  if (rules.empty() || !key_column_present(*audience)) {
    spi.finish();
    return;
  }

  // Which columns did the statement set? (UPDATE only; INSERT sets all.)
  std::vector<bool> updated_flags;
  const std::vector<bool>* updated =
      is_update && updated_columns(trigdata, *audience, updated_flags) ? &updated_flags : nullptr;

  // Drop the rules no updated column can affect; gather the columns to read.
  core::RowReads reads = core::narrow_rules(rules, updated, is_update);
  if (!reads.any) {
    spi.finish();
    return;
  }
  const std::vector<int>& needed = reads.columns;
  TupleDesc desc = RelationGetDescr(rel);
  const int64_t now = pg_to_unix(pg_guard([] { return GetCurrentTransactionStartTimestamp(); }));
  Effects fx;
  {  // the readers' slots live in SPI's memory: done with them before spi.finish()
    TransitionReader new_rows(trigdata->tg_newtable, desc, *audience, needed);
    std::optional<TransitionReader> old_rows;
    if (reads.needs_old) old_rows.emplace(trigdata->tg_oldtable, desc, *audience, needed);

    while (new_rows.next()) {
      // OLD of the same row, read only when a condition needs it: transition
      // tables list rows in the same order; a changed key means another row.
      bool old_fetched = old_rows && old_rows->next();
      bool old_resolved = false;
      const std::vector<core::Value>* old = nullptr;
      core::OldRow old_row = [&]() -> const std::vector<core::Value>* {
        if (!old_resolved) {
          old_resolved = true;
          if (old_fetched && old_rows->key() == new_rows.key()) old = &old_rows->row();
        }
        return old;
      };
      add_effects(core::row_change_effects(rules, new_rows.row(), old_row, now), rules,
                  new_rows.key(), fx);
    }
  }
  write_effects(fx);
  spi.finish();
}

}  // namespace
}  // namespace pgj::pg

// journey._audience_trigger(): AFTER INSERT / UPDATE / DELETE ... FOR EACH
// STATEMENT on a registered customer table.
PGJ_FUNCTION(pgj_audience_trigger) {
  auto* trigdata = reinterpret_cast<TriggerData*>(fcinfo->context);
  if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event) ||
      !TRIGGER_FIRED_AFTER(trigdata->tg_event))
    throw pgj::core::Error("39P01",
                           "journey._audience_trigger must fire AFTER ... FOR EACH STATEMENT");
  // Installed without transition tables: no journey of the audience needs this
  // statement's rows now (journey._install_audience_triggers), nothing to do.
  const bool is_delete = TRIGGER_FIRED_BY_DELETE(trigdata->tg_event);
  if ((is_delete ? trigdata->tg_oldtable : trigdata->tg_newtable) == nullptr)
    return PointerGetDatum(nullptr);
  pgj::pg::fire(trigdata);
  return PointerGetDatum(nullptr);
}

// journey._audience_capture(rel, OUT changes, OUT deletes): whether the
// audience's triggers must capture the changed rows (INSERT, UPDATE) and the
// deleted ones, decided by core::capture_needs from the versions the trigger
// itself loads (load_rules); journey._install_audience_triggers applies it.
PGJ_FUNCTION(pgj_audience_capture) {
  if (PG_ARGISNULL(0)) throw pgj::core::Error("22004", "_audience_capture: rel must not be null");
  Oid relid = PG_GETARG_OID(0);
  pgj::core::CaptureNeeds needs;
  {
    pgj::pg::SpiConnection spi;
    pgj::pg::refresh_trigger_caches();  // the plan of versions_statement
    std::shared_ptr<const pgj::pg::AudienceInfo> audience;
    std::vector<pgj::core::TriggerVersion> versions;
    pgj::pg::load_rules(relid, audience, &versions);
    needs = pgj::core::capture_needs(versions);
    spi.finish();
  }
  Datum values[2] = {BoolGetDatum(needs.changes), BoolGetDatum(needs.deletes)};
  bool nulls[2] = {false, false};
  return pgj::pg::result_record(fcinfo, values, nulls);
}
