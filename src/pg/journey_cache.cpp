// Compiled journeys and audiences, cached for the backend's life.
#include "pg/journey_cache.hpp"

#include <map>
#include <utility>

#include "core/error.hpp"
#include "core/footprint.hpp"
#include "pg/bridge.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "utils/inval.h"
}

namespace pgj::pg {

namespace {

// A cached audience with its context under "pg_journey audiences".
struct CachedAudience {
  explicit CachedAudience(AudienceInfo loaded) : info(std::move(loaded)) {}
  AudienceInfo info;
  EntryMemory memory;
};

// Heap bytes of an entry (core/footprint.hpp): the entry, the cache's map
// node, what its members own. Its audience is counted under "pg_journey
// audiences".
constexpr size_t kMapNode = 32;  // a std::map node's header
size_t heap_bytes(const CachedAudience& entry) {
  const AudienceInfo& info = entry.info;
  // make_shared: the control block and the entry in one allocation.
  size_t bytes = core::heap_chunk(16 + sizeof(CachedAudience)) +
                 core::heap_chunk(kMapNode + sizeof(std::pair<const Oid, void*>) + 16) +
                 core::heap_bytes(info.qualified_name) + core::heap_bytes(info.schema) +
                 core::heap_bytes(info.key_type) +
                 core::heap_chunk(info.columns.capacity() * sizeof(AudienceColumn));
  for (const AudienceColumn& c : info.columns)
    bytes += core::heap_bytes(c.name) + core::heap_bytes(c.type_name);
  return bytes;
}

std::map<std::pair<int64_t, int32_t>, std::unique_ptr<CachedJourney>> journeys;
std::map<Oid, std::shared_ptr<const AudienceInfo>> audiences;
Oid cached_extension_oid = InvalidOid;
Oid versions_relid = InvalidOid;  // journey.versions: a publish invalidates it
uint64_t generation = 1;
bool callback_registered = false;
bool audience_changed = false;
int pins = 0;

// Relcache invalidation: only notes that a cached audience table changed or a
// journey was published; the caches are dropped at the next refresh, outside
// invalidation processing.
void on_relcache_invalidation(Datum, Oid relid) {
  if (relid == InvalidOid || audiences.count(relid) ||
      (relid == versions_relid && versions_relid != InvalidOid))
    audience_changed = true;
}

// journey.versions, or InvalidOid without the extension.
Oid lookup_versions_relid() {
  return pg_guard([] {
    Oid schema = get_namespace_oid("journey", true);
    return schema == InvalidOid ? InvalidOid : get_relname_relid("versions", schema);
  });
}

}  // namespace

CachePin::CachePin() {
  ++pins;
}
CachePin::~CachePin() {
  --pins;
}

bool cache_pinned() {
  return pins > 0;
}

std::shared_ptr<const AudienceInfo> cached_audience(Oid relid) {
  auto it = audiences.find(relid);
  if (it != audiences.end()) return it->second;
  auto info = load_audience_info(relid);
  if (!info)
    throw core::Error("42704",
                      "relation " + std::to_string(relid) + " is no longer a registered audience");
  auto entry = std::make_shared<CachedAudience>(std::move(*info));
  std::shared_ptr<const AudienceInfo> shared(entry, &entry->info);
  audiences.emplace(relid, shared);
  entry->memory = EntryMemory(Cache::Audiences, entry->info.qualified_name, heap_bytes(*entry));
  return shared;
}

uint64_t refresh_cache_generation() {
  // While a tick or trigger holds cached entries, nothing is dropped: the
  // change is applied at the next refresh once they are done.
  if (pins > 0) return generation;
  if (!callback_registered) {
    pg_guard([] { CacheRegisterRelcacheCallback(on_relcache_invalidation, 0); });
    callback_registered = true;
  }
  Oid current = pg_guard([] { return get_extension_oid("pg_journey", true); });
  if (current != cached_extension_oid || audience_changed) {
    journeys.clear();
    audiences.clear();
    cached_extension_oid = current;
    versions_relid = current == InvalidOid ? InvalidOid : lookup_versions_relid();
    audience_changed = false;
    ++generation;
  }
  return generation;
}

void forget_plans_when_refreshed(uint64_t& seen,
                                 std::initializer_list<PreparedStatement*> statements) {
  if (uint64_t generation = refresh_cache_generation(); generation != seen) {
    for (PreparedStatement* s : statements) s->reset();
    seen = generation;
  }
}

void forget_cached_journeys() {
  audience_changed = true;  // the next refresh drops everything
}

namespace {

// The templates frozen into a version (journey.versions.templates), compiled.
std::map<std::string, core::TemplateDef> compile_templates(const core::Json& templates) {
  std::map<std::string, core::TemplateDef> compiled;
  for (auto it = templates.begin(); it != templates.end(); ++it) {
    core::TemplateDef def;
    def.name = it.key();
    const core::Json& t = *it;
    if (!t.is_object()) continue;
    if (t.contains("channel") && t["channel"].is_string()) def.channel = t["channel"];
    if (t.contains("subject") && t["subject"].is_string())
      def.subject = core::compile_template(t["subject"].get<std::string>());
    def.body = core::compile_template(
        t.contains("body") && t["body"].is_string() ? t["body"].get<std::string>() : std::string());
    compiled.emplace(def.name, std::move(def));
  }
  return compiled;
}

}  // namespace

namespace {

// Loads and compiles a version; its audience from the cache (keep_audience) or
// read afresh and kept by the result alone.
std::unique_ptr<CachedJourney> load_version(int64_t journey_id, int32_t version,
                                            bool keep_audience) {
  auto rows = spi_rows(
      // A version runs with the privileges of the role that published it.
      "SELECT v.definition::text, j.audience::oid::text, coalesce(v.owner, j.owner)::oid::text,"
      "       coalesce(v.templates, '{}')::text"
      "  FROM journey.versions v JOIN journey.journeys j ON j.id = v.journey_id"
      " WHERE v.journey_id = $1::int8 AND v.version = $2::int4 AND v.definition IS NOT NULL",
      {std::to_string(journey_id), std::to_string(version)},
      /*read_only=*/false);  // a fresh snapshot, not the calling statement's
  if (rows.empty())
    throw core::Error("42704", "journey " + std::to_string(journey_id) +
                                   " has no published version " + std::to_string(version));
  auto entry = std::make_unique<CachedJourney>();
  const Oid relid = static_cast<Oid>(std::stoul(*rows[0][1]));
  if (keep_audience) {
    entry->audience = cached_audience(relid);
  } else {
    std::optional<AudienceInfo> info = load_audience_info(relid);
    if (!info)
      throw core::Error(
          "42704", "relation " + std::to_string(relid) + " is no longer a registered audience");
    entry->audience = std::make_shared<const AudienceInfo>(std::move(*info));
  }
  entry->owner = static_cast<Oid>(std::stoul(*rows[0][2]));
  entry->compiled = core::compile_journey(core::Json::parse(*rows[0][0]), entry->audience->schema,
                                          journey_id, version);
  entry->templates = compile_templates(core::Json::parse(*rows[0][3]));
  entry->columns = core::columns_read(entry->compiled, entry->audience->schema, entry->templates);
  return entry;
}

}  // namespace

const CachedJourney* find_cached_journey(int64_t journey_id, int32_t version) {
  auto it = journeys.find(std::make_pair(journey_id, version));
  return it == journeys.end() ? nullptr : it->second.get();
}

std::unique_ptr<CachedJourney> compile_version(int64_t journey_id, int32_t version) {
  return load_version(journey_id, version, /*keep_audience=*/false);
}

const CachedJourney& cached_journey(int64_t journey_id, int32_t version) {
  auto key = std::make_pair(journey_id, version);
  auto it = journeys.find(key);
  if (it != journeys.end()) return *it->second;
  std::unique_ptr<CachedJourney> entry = load_version(journey_id, version, /*keep_audience=*/true);
  CachedJourney& cached = *journeys.emplace(key, std::move(entry)).first->second;
  size_t bytes = core::heap_chunk(sizeof(CachedJourney)) +
                 core::heap_chunk(kMapNode + sizeof(decltype(journeys)::value_type)) +
                 core::heap_bytes(cached.compiled) + core::heap_bytes(cached.templates) +
                 core::heap_bytes(cached.columns);
  cached.memory = EntryMemory(
      Cache::CompiledJourneys,
      "journey " + std::to_string(journey_id) + " version " + std::to_string(version), bytes);
  return cached;
}

// Sends the invalidation journey._journeys_changed() stands for.
void announce_journeys_changed() {
  Oid relid = lookup_versions_relid();
  if (relid != InvalidOid) pg_guard([&] { CacheInvalidateRelcacheByRelid(relid); });
}

}  // namespace pgj::pg

// journey._journeys_changed(): called by journey.publish. Every backend drops
// its compiled journeys when the publishing transaction commits (a relcache
// invalidation of journey.versions), so that the versions a publish retires do
// not stay cached for the backend's life.
PGJ_FUNCTION(pgj_journeys_changed) {
  pgj::pg::announce_journeys_changed();
  PG_RETURN_VOID();
}
