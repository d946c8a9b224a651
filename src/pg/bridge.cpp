// Error bridge between C++ exceptions and PostgreSQL's ereport/longjmp.
#include "pg/bridge.hpp"

#include <cstring>
#include <new>
#include <utility>

#include "core/error.hpp"
#include "pg/version.hpp"

namespace pgj::pg {

namespace detail {

static_assert(noexcept(std::declval<Thunk>()(nullptr)), "pg_guard's thunk must be noexcept");

ErrorData* try_pg_call(Thunk fn, void* arg) {
  MemoryContext caller_context = CurrentMemoryContext;
  sigjmp_buf* caller_exception_stack = PG_exception_stack;
  ErrorContextCallback* caller_context_stack = error_context_stack;
  ErrorData* volatile caught = nullptr;
  PG_TRY();
  { fn(arg); }
  PG_CATCH();
  {
    MemoryContextSwitchTo(caller_context);
    caught = CopyErrorData();
    FlushErrorState();
  }
  PG_END_TRY();
  // As the caller had them, whatever fn did (pg_duckdb's guard does the same).
  PG_exception_stack = caller_exception_stack;
  error_context_stack = caller_context_stack;
  return caught;
}

}  // namespace detail

namespace {

// Fixed buffers: nothing inside a catch block may allocate through PostgreSQL
// (an allocation failure would longjmp out of the handler).
char sqlstate_buf[6];
char message_buf[4096];
char detail_buf[16384];
char hint_buf[2048];

void copy_text(char* dst, size_t size, const char* src) {
  if (!src) src = "";
  size_t len = strnlen(src, size - 1);
  // Cut at a character boundary (never inside a UTF-8 sequence).
  if (src[len] != '\0')
    while (len > 0 && (static_cast<unsigned char>(src[len]) & 0xC0) == 0x80) --len;
  std::memcpy(dst, src, len);
  dst[len] = '\0';
}

}  // namespace

Datum run_entry(FunctionCallInfo fcinfo, EntryBody body, bool check_version) {
  // A plain PostgreSQL call before any C++ object exists: it may ereport.
  if (check_version) require_extension_version();
  ErrorData* pg_error = nullptr;
  bool failed = false;
  try {
    return body(fcinfo);
  } catch (const PgError& e) {
    pg_error = e.data();
  } catch (const core::Error& e) {
    failed = true;
    copy_text(sqlstate_buf, sizeof sqlstate_buf,
              e.sqlstate().size() == 5 ? e.sqlstate().c_str() : "XX000");
    copy_text(message_buf, sizeof message_buf, e.what());
    copy_text(detail_buf, sizeof detail_buf, e.detail().c_str());
    copy_text(hint_buf, sizeof hint_buf, e.hint().c_str());
  } catch (const std::bad_alloc&) {
    failed = true;
    copy_text(sqlstate_buf, sizeof sqlstate_buf, "53200");
    copy_text(message_buf, sizeof message_buf, "out of memory in pg_journey");
    detail_buf[0] = hint_buf[0] = '\0';
  } catch (const std::exception& e) {
    failed = true;
    copy_text(sqlstate_buf, sizeof sqlstate_buf, "XX000");
    copy_text(message_buf, sizeof message_buf, e.what());
    detail_buf[0] = hint_buf[0] = '\0';
  } catch (...) {
    failed = true;
    copy_text(sqlstate_buf, sizeof sqlstate_buf, "XX000");
    copy_text(message_buf, sizeof message_buf, "unknown C++ exception in pg_journey");
    detail_buf[0] = hint_buf[0] = '\0';
  }
  // Every C++ frame of the body has unwound: now PostgreSQL may longjmp.
  if (pg_error) ReThrowError(pg_error);
  if (failed) {
    ereport(ERROR, (errcode(MAKE_SQLSTATE(sqlstate_buf[0], sqlstate_buf[1], sqlstate_buf[2],
                                          sqlstate_buf[3], sqlstate_buf[4])),
                    errmsg_internal("%s", message_buf),
                    detail_buf[0] ? errdetail_internal("%s", detail_buf) : 0,
                    hint_buf[0] ? errhint("%s", hint_buf) : 0));
  }
  pg_unreachable();
}

}  // namespace pgj::pg
