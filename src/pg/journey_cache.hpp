// Per-backend cache of compiled journeys, keyed by (journey id, version).
// Published versions are immutable, so an entry never goes stale; the whole
// cache is dropped when the extension is recreated (new OIDs, ids restart), an
// audience table changes, or a journey is published (old versions would
// otherwise pile up in a long-lived backend). Each entry's memory shows in
// pg_backend_memory_contexts (cache_memory.hpp).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <vector>

#include "core/engine.hpp"
#include "pg/cache_memory.hpp"
#include "pg/catalog.hpp"
#include "pg/postgres.hpp"
#include "pg/spi.hpp"

namespace pgj::pg {

struct CachedJourney {
  core::CompiledJourney compiled;
  std::shared_ptr<const AudienceInfo> audience;
  Oid owner = InvalidOid;  // role that call steps run as
  // The templates frozen into the version at publish (journey.versions.templates):
  // what its send steps render, whatever journey.templates holds today.
  std::map<std::string, core::TemplateDef> templates;
  // The audience columns the version reads (core::columns_read): a tick decodes
  // only these.
  std::vector<int> columns;
  // Its context under "pg_journey compiled journeys" (ident "journey J version V").
  EntryMemory memory;
};

// The compiled journey version, loading and compiling it on first use (SPI must
// be connected). Throws when the version does not exist. Loaded with a fresh
// snapshot: a tick claims enrollments with a newer snapshot than the statement
// that called it, and must see the versions committed before its claim (a
// publish that migrated an enrollment it claimed).
const CachedJourney& cached_journey(int64_t journey_id, int32_t version);

// The compiled journey version when this backend has it cached, else nullptr:
// never loads (no SPI call, cannot fail).
const CachedJourney* find_cached_journey(int64_t journey_id, int32_t version);

// The same version compiled as cached_journey compiles it, with its audience
// read afresh, and kept by the caller alone: nothing is cached
// (journey._audience_capture asks from a lifecycle call's backend).
std::unique_ptr<CachedJourney> compile_version(int64_t journey_id, int32_t version);

// The registered audience with this relation OID, loaded on first use; throws
// when it is not registered.
std::shared_ptr<const AudienceInfo> cached_audience(Oid relid);

// Keeps the cache's entries alive while it exists: a tick or a trigger holds
// references into the cache, and an invalidation arriving meanwhile (a field
// update firing the audience trigger, an ANALYZE) must not free them.
class CachePin {
 public:
  CachePin();
  ~CachePin();
  CachePin(const CachePin&) = delete;
  CachePin& operator=(const CachePin&) = delete;
};

// Whether a tick or trigger of this backend is using the cache.
bool cache_pinned();

// Drops every cached journey and audience when the extension was recreated
// (new OIDs, ids restart), an audience table changed (ALTER TABLE,
// re-registration: a relcache invalidation) or a journey was published (the
// relcache invalidation of journey.versions that journey._journeys_changed()
// sends at commit); returns the cache generation, which
// changes whenever that happens (callers then forget their prepared plans).
uint64_t refresh_cache_generation();

// Forgets the plans of `statements` when the cache generation changed since
// the caller last asked (`seen`: the caller's own, kept between calls).
void forget_plans_when_refreshed(uint64_t& seen,
                                 std::initializer_list<PreparedStatement*> statements);

// Drops every cached journey and audience at the next refresh: journey.simulate
// compiled a version that its rollback took away (the draft it ran may be
// edited and published under the same number).
void forget_cached_journeys();

// Makes every backend drop its cached journeys and audiences when the current
// transaction commits (journey._journeys_changed(), called by journey.publish).
void announce_journeys_changed();

}  // namespace pgj::pg
