// Memory contexts for the backend's caches (compiled journeys, audiences, the
// customer-table trigger's entry conditions, the key readers), so that
// pg_backend_memory_contexts shows what they hold and dropping an entry shows
// its memory released.
//
// The cached objects are core types (std::string, std::vector, nlohmann::json):
// they allocate with operator new, not palloc. Routing those allocations into
// a MemoryContext would take allocator-aware core types (std::pmr throughout
// the core) or a replaced global operator new, which cannot work here
// (postgres itself loads libstdc++ through ICU, whose operator new wins). So
// each cache entry owns an accounting context instead: a child of the cache's
// named context whose size is the heap footprint of the entry's C++ objects
// (core/footprint.hpp: counted from their structure when the entry is built;
// nothing in an entry changes afterwards), and which is deleted with the
// entry. Such a context takes no palloc (an allocation in it fails as out of
// memory).
#pragma once
#include <cstddef>
#include <string>

#include "pg/postgres.hpp"

namespace pgj::pg {

// The long-lived caches of a backend: each has one named context, a child of
// CacheMemoryContext, created on first use.
enum class Cache {
  CompiledJourneys,  // "pg_journey compiled journeys" (journey_cache.hpp)
  Audiences,         // "pg_journey audiences" (journey_cache.hpp)
  TriggerEntries,    // "pg_journey trigger entries" (audience_trigger.cpp)
  KeyReaders,        // "pg_journey key readers" (customer_api.cpp)
};

// The accounting context of one cache entry, deleted with it.
class EntryMemory {
 public:
  EntryMemory() = default;
  // A child of `cache`'s context named after it, `ident` saying which entry,
  // of size `bytes` (the entry's heap footprint, core::heap_bytes).
  EntryMemory(Cache cache, const std::string& ident, size_t bytes);
  ~EntryMemory();
  EntryMemory(EntryMemory&& other) noexcept : context_(other.context_) { other.context_ = nullptr; }
  EntryMemory& operator=(EntryMemory&& other) noexcept;
  EntryMemory(const EntryMemory&) = delete;
  EntryMemory& operator=(const EntryMemory&) = delete;

 private:
  MemoryContext context_ = nullptr;
};

}  // namespace pgj::pg
