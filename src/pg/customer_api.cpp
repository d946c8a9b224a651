// Reading customer ids: the canonical id of an audience's customer, through
// the key column's type. track() runs this for every event and every
// registered audience, so the lookups are prepared once per audience.
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "core/footprint.hpp"
#include "pg/bridge.hpp"
#include "pg/cache_memory.hpp"
#include "pg/convert.hpp"
#include "pg/journey_cache.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "utils/resowner.h"
}

namespace pgj::pg {
namespace {

// How to read the ids of one audience: its key's base type (no typmod, so an
// id is never truncated to another customer's key, and no domain check), that
// type's input function, and the prepared lookup of a key's text.
struct KeyReader {
  Oid type = InvalidOid;
  Oid input = InvalidOid;
  Oid ioparam = InvalidOid;
  std::unique_ptr<PreparedStatement> lookup;
  EntryMemory memory;  // under "pg_journey key readers"
};

std::map<Oid, KeyReader> readers;
uint64_t seen_generation = 0;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// An integer of at most 9 digits, as int4 and int8 read it: "7", " -007 ".
bool is_small_integer(const std::string& s) {
  size_t i = 0, n = s.size();
  while (i < n && s[i] == ' ') ++i;
  if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
  size_t digits = 0;
  while (i < n && is_digit(s[i])) ++i, ++digits;
  while (i < n && s[i] == ' ') ++i;
  return i == n && digits >= 1 && digits <= 9;
}

// A uuid in its usual forms: 8-4-4-4-12 hex digits, or 32 without hyphens.
bool is_plain_uuid(const std::string& s) {
  if (s.size() == 32) {
    for (char c : s)
      if (!is_hex(c)) return false;
    return true;
  }
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool hyphen = i == 8 || i == 13 || i == 18 || i == 23;
    if (hyphen ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

// Whether the type's input function surely accepts this text, so that reading
// it needs no subtransaction (the common case); otherwise it is guarded.
bool surely_valid(Oid type, const std::string& id) {
  switch (type) {
    case TEXTOID:
    case VARCHAROID:
    case BPCHAROID:
      return true;
    case INT4OID:
    case INT8OID:
      return is_small_integer(id);
    case UUIDOID:
      return is_plain_uuid(id);
    default:
      return false;
  }
}

std::string quote_ident(const std::string& name) {
  const char* n = name.c_str();
  return std::string(pg_guard([&] { return quote_identifier(n); }));
}

// The reader of an audience's ids, made on first use; all are forgotten when
// an audience table changes or the extension is recreated (SPI connected).
KeyReader& reader_for(Oid relid) {
  if (uint64_t generation = refresh_cache_generation(); generation != seen_generation) {
    for (auto& [oid, reader] : readers) reader.lookup->reset();
    readers.clear();
    seen_generation = generation;
  }
  auto it = readers.find(relid);
  if (it != readers.end()) return it->second;
  // Through the audience cache, so that a change of the table is noticed.
  auto audience = cached_audience(relid);
  const std::string& column = audience->schema.key_column;
  KeyReader reader;
  const char* column_name = column.c_str();
  struct Types {
    Oid type, input, ioparam;
  };
  Types types = pg_guard([&] {
    AttrNumber attnum = get_attnum(relid, column_name);
    if (attnum == InvalidAttrNumber)
      elog(ERROR, "pg_journey: key column \"%s\" of relation %u does not exist", column_name,
           relid);
    Types t{getBaseType(get_atttype(relid, attnum)), InvalidOid, InvalidOid};
    getTypeInputInfo(t.type, &t.input, &t.ioparam);
    return t;
  });
  reader.type = types.type;
  reader.input = types.input;
  reader.ioparam = types.ioparam;
  std::string key = "t." + quote_ident(column);
  std::string sql =
      "SELECT " + key + "::text FROM " + audience->qualified_name + " t WHERE " + key + " = $1";
  // Heap bytes: the map node, the statement, its SQL text and argument types.
  size_t bytes = core::heap_chunk(32 + sizeof(decltype(readers)::value_type)) +
                 core::heap_chunk(sizeof(PreparedStatement)) + core::heap_bytes(sql) +
                 core::heap_chunk(sizeof(Oid));
  reader.lookup =
      std::make_unique<PreparedStatement>(std::move(sql), std::vector<Oid>{reader.type});
  KeyReader& stored = readers.emplace(relid, std::move(reader)).first->second;
  stored.memory = EntryMemory(Cache::KeyReaders, audience->qualified_name, bytes);
  return stored;
}

// The id as a value of the key's type, or nullopt when it is none (a data
// exception of the input function, caught in a subtransaction that takes no
// transaction id). Other errors propagate.
std::optional<Datum> read_id(const KeyReader& reader, const std::string& id) {
  const char* text = id.c_str();
  Oid input = reader.input, ioparam = reader.ioparam;
  auto call_input = [&] {
    return OidInputFunctionCall(input, const_cast<char*>(text), ioparam, -1);
  };
  if (surely_valid(reader.type, id)) return pg_guard(call_input);
  MemoryContext outer_context = CurrentMemoryContext;
  ResourceOwner outer_owner = CurrentResourceOwner;
  pg_guard([] { BeginInternalSubTransaction(nullptr); });
  MemoryContextSwitchTo(outer_context);  // the value must outlive the subtransaction
  ErrorData* failed = nullptr;
  Datum value = 0;
  try {
    value = pg_guard(call_input);
  } catch (const PgError& e) {
    failed = e.data();
  }
  if (failed) {
    pg_guard([] { RollbackAndReleaseCurrentSubTransaction(); });
  } else {
    pg_guard([] { ReleaseCurrentSubTransaction(); });
  }
  MemoryContextSwitchTo(outer_context);
  CurrentResourceOwner = outer_owner;
  if (failed) {
    if (ERRCODE_TO_CATEGORY(failed->sqlerrcode) != ERRCODE_DATA_EXCEPTION) throw PgError(failed);
    return std::nullopt;
  }
  return value;
}

}  // namespace
}  // namespace pgj::pg

using namespace pgj;

// journey._lookup_customer(audience regclass, id text, OUT key text, OUT
// problem text): the canonical id of the audience's customer that `id` names
// (the key column's value as text: '007' is bigint customer 7, an upper-case
// uuid its lower-case text), or null with the reason: 'invalid' (no value of
// the key's type) or 'missing' (no such row). 42704 when the relation is not a
// registered audience.
PGJ_FUNCTION(pgj_lookup_customer) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
    throw core::Error("22004", "audience and id must not be null");
  Oid relid = PG_GETARG_OID(0);
  std::string id = pg::arg_string(fcinfo, 1);
  pg::SpiConnection spi;
  pg::KeyReader& reader = pg::reader_for(relid);
  std::optional<Datum> value = pg::read_id(reader, id);
  std::optional<std::string> key;
  if (value) {
    Datum args[1] = {*value};
    char nulls[1] = {' '};
    auto rows = reader.lookup->rows(args, nulls);
    if (!rows.empty()) key = rows[0][0];
  }
  spi.finish();
  std::string problem = !value ? "invalid" : !key ? "missing" : "";
  Datum values[2] = {key ? pg::string_to_text(*key) : Datum(0),
                     problem.empty() ? Datum(0) : pg::string_to_text(problem)};
  bool nulls[2] = {!key, problem.empty()};
  return pg::result_record(fcinfo, values, nulls);
}
