// How many heap bytes a compiled object holds: what the pg layer reports as the
// size of a cache entry (pg_backend_memory_contexts, src/pg/cache_memory.hpp).
// Counted from the objects' structure (string and vector capacities, map and
// JSON nodes), each allocation as glibc's malloc takes it (a chunk header,
// rounded to 16 bytes, 32 at least), so the figure is deterministic: the same
// object gives the same bytes in every backend.
#pragma once
#include <cstddef>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/condition.hpp"
#include "core/engine.hpp"
#include "core/json.hpp"
#include "core/schema.hpp"
#include "core/template.hpp"

namespace pgj::core {

// The heap one allocation of n bytes takes (0 for none).
size_t heap_chunk(size_t n);

// Heap bytes the object's members own (not counting the object itself, which
// lives in its container or on the stack).
size_t heap_bytes(const std::string& s);
size_t heap_bytes(const Json& j);
size_t heap_bytes(const Value& v);
size_t heap_bytes(const CondNode& node);
size_t heap_bytes(const CompiledCondition& condition);
size_t heap_bytes(const CompiledTemplate& t);
size_t heap_bytes(const TemplateDef& t);
size_t heap_bytes(const CompiledStep& step);
size_t heap_bytes(const CompiledExitRule& rule);
size_t heap_bytes(const CompiledJourney& journey);
size_t heap_bytes(const Column& column);
size_t heap_bytes(const AudienceSchema& schema);
size_t heap_bytes(const std::map<std::string, TemplateDef>& templates);

template <typename T>
size_t heap_bytes(const std::vector<T>& v);

// What a pair's members own.
template <typename A, typename B>
size_t heap_bytes(const std::pair<A, B>& p) {
  size_t bytes = 0;
  if constexpr (!std::is_trivially_copyable_v<A>) bytes += heap_bytes(p.first);
  if constexpr (!std::is_trivially_copyable_v<B>) bytes += heap_bytes(p.second);
  return bytes;
}

// A vector's buffer and what its elements own.
template <typename T>
size_t heap_bytes(const std::vector<T>& v) {
  size_t bytes = heap_chunk(v.capacity() * sizeof(T));
  if constexpr (!std::is_trivially_copyable_v<T>)
    for (const T& item : v) bytes += heap_bytes(item);
  return bytes;
}

}  // namespace pgj::core
