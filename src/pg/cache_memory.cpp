// Accounting memory contexts of the backend's caches (see cache_memory.hpp).
#include "pg/cache_memory.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

#include "pg/bridge.hpp"

extern "C" {
#include "storage/ipc.h"
#include "utils/catcache.h"
}

namespace pgj::pg {

namespace {

// A context that holds no palloc chunk: it stands for `bytes` of C++ objects on
// the heap that its owner frees. Allocated with malloc, like an AllocSet's
// header, and freed when the context is deleted.
struct AccountingContext {
  MemoryContextData header;  // first: the node PostgreSQL links into the tree
  size_t bytes;
  char ident[1];  // the entry's description, NUL-terminated, allocated to length
};

AccountingContext* accounting(MemoryContext context) {
  return reinterpret_cast<AccountingContext*>(context);
}

// Nothing is ever palloc'd here: palloc fails as out of memory (and says in
// which context), pfree and repalloc cannot be reached (no chunk exists).
void* no_alloc(MemoryContext, Size) {
  return nullptr;
}
void no_free(MemoryContext, void*) {}
void* no_realloc(MemoryContext, void*, Size) {
  return nullptr;
}
void nothing_to_reset(MemoryContext) {}
void delete_context(MemoryContext context) {
  std::free(context);
}
Size no_chunk_space(MemoryContext, void*) {
  return 0;
}
bool is_empty(MemoryContext context) {
  return accounting(context)->bytes == 0;
}
void stats(MemoryContext context, MemoryStatsPrintFunc printfunc, void* passthru,
           MemoryContextCounters* totals, bool print_to_stderr) {
  size_t bytes = accounting(context)->bytes;
  if (printfunc) {
    char line[200];
    snprintf(line, sizeof line, "%zu total in 1 blocks; 0 free; %zu used (C++ objects on the heap)",
             bytes, bytes);
    printfunc(context, passthru, line, print_to_stderr);
  }
  if (totals) {
    totals->nblocks += 1;
    totals->totalspace += bytes;
  }
}
#ifdef MEMORY_CONTEXT_CHECKING
void check(MemoryContext) {}
#endif

const MemoryContextMethods accounting_methods = {
    no_alloc,       no_free,        no_realloc, nothing_to_reset,
    delete_context, no_chunk_space, is_empty,   stats,
#ifdef MEMORY_CONTEXT_CHECKING
    check,
#endif
};

// Makes an accounting context (no PostgreSQL error possible but through
// pg_guard all the same). The name must be a string constant.
MemoryContext make_context(MemoryContext parent, const char* name, const std::string& ident,
                           size_t bytes) {
  void* memory = std::malloc(sizeof(AccountingContext) + ident.size());
  if (!memory) throw std::bad_alloc();
  auto* node = static_cast<AccountingContext*>(memory);
  node->bytes = bytes;
  std::memcpy(node->ident, ident.c_str(), ident.size() + 1);
  auto context = reinterpret_cast<MemoryContext>(node);
  // Tagged as an AllocSet: PostgreSQL 15 accepts only its own three tags as
  // valid contexts; the methods are what tell them apart.
  pg_guard([&] {
    MemoryContextCreate(context, T_AllocSetContext, &accounting_methods, parent, name);
    context->ident = node->ident;
    context->mem_allocated = bytes;
  });
  return context;
}

struct CacheNames {
  const char* cache;  // the cache's context, a child of CacheMemoryContext
  const char* entry;  // each entry's, a child of the cache's
};

CacheNames names(Cache cache) {
  switch (cache) {
    case Cache::CompiledJourneys:
      return {"pg_journey compiled journeys", "pg_journey compiled journey"};
    case Cache::Audiences:
      return {"pg_journey audiences", "pg_journey audience"};
    case Cache::TriggerEntries:
      return {"pg_journey trigger entries", "pg_journey trigger entry"};
    case Cache::KeyReaders:
      break;
  }
  return {"pg_journey key readers", "pg_journey key reader"};
}

// The cache's context, made on first use; never deleted.
MemoryContext cache_context(Cache cache) {
  static MemoryContext contexts[4] = {};
  MemoryContext& context = contexts[static_cast<int>(cache)];
  if (!context) {
    pg_guard([] {
      if (!CacheMemoryContext) CreateCacheMemoryContext();
    });
    context = make_context(CacheMemoryContext, names(cache).cache, "", 0);
    context->ident = nullptr;
  }
  return context;
}

}  // namespace

EntryMemory::EntryMemory(Cache cache, const std::string& ident, size_t bytes)
    : context_(make_context(cache_context(cache), names(cache).entry, ident, bytes)) {}

EntryMemory::~EntryMemory() {
  // At backend exit the caches' C++ objects are destroyed after PostgreSQL's
  // shutdown; the contexts go with the process.
  if (!context_ || proc_exit_inprogress) return;
  MemoryContext context = context_;
  try {
    pg_guard([&] { MemoryContextDelete(context); });
  } catch (...) {
    // Deleting a context without chunks or children does not fail.
  }
}

EntryMemory& EntryMemory::operator=(EntryMemory&& other) noexcept {
  if (this != &other) {
    EntryMemory dropped(std::move(*this));
    context_ = other.context_;
    other.context_ = nullptr;
  }
  return *this;
}

}  // namespace pgj::pg
