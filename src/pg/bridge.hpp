// The border between C++ and PostgreSQL, in both directions:
//  - PGJ_FUNCTION defines a SQL-callable function whose C++ body may throw; the
//    exception becomes ereport(ERROR) only after every C++ frame has unwound.
//  - pg_guard runs PostgreSQL calls that may ereport; the longjmp is caught in
//    a frame that owns nothing, and rethrown as a C++ PgError.
// Rule: no object with a destructor lives in a frame a PostgreSQL error can
// longjmp over; PostgreSQL calls that can fail go through pg_guard.
#pragma once
#include <exception>
#include <type_traits>

#include "pg/postgres.hpp"

namespace pgj::pg {

// A PostgreSQL error caught by pg_guard, travelling through C++ frames. Not a
// std::exception on purpose: code that handles its own failures with
// `catch (const std::exception&)` (the core's condition evaluator and validator,
// say) must never swallow a cancel, a lock timeout or any other PostgreSQL
// error. Only the bridge (run_entry) and the tick's subtransactions catch it.
class PgError {
 public:
  explicit PgError(ErrorData* data) : data_(data) {}
  ErrorData* data() const { return data_; }
  const char* what() const noexcept {
    return data_ && data_->message ? data_->message : "PostgreSQL error";
  }

 private:
  ErrorData* data_;  // palloc'd copy, rethrown unchanged at the entry point
};
static_assert(!std::is_base_of_v<std::exception, PgError>,
              "a PostgreSQL error must not be catchable as a std::exception");

namespace detail {
// The thunk pg_guard hands to try_pg_call: never throws, so no C++ exception
// can cross the PG_TRY frame (it would leave PG_exception_stack pointing at a
// dead sigjmp_buf, and the next ereport would jump into it).
using Thunk = void (*)(void*) noexcept;

// Calls fn(arg) under PG_TRY; returns the caught error (memory context, exception
// stack and error context stack restored, error state flushed) or null.
ErrorData* try_pg_call(Thunk fn, void* arg);

// Runs fn inside a thunk: a C++ exception it throws is kept in `thrown` and
// rethrown by pg_guard once try_pg_call has returned.
template <typename Fn>
void run_caught(Fn& fn, std::exception_ptr& thrown) noexcept {
  try {
    fn();
  } catch (...) {
    thrown = std::current_exception();
  }
}
}  // namespace detail

// Runs fn (PostgreSQL calls only) and turns a PostgreSQL error into PgError. A
// C++ exception fn throws anyway is rethrown unchanged after the PostgreSQL
// exception stack has been restored.
template <typename Fn>
auto pg_guard(Fn&& fn) -> decltype(fn()) {
  using Result = decltype(fn());
  using FnType = std::remove_reference_t<Fn>;
  if constexpr (std::is_void_v<Result>) {
    struct Call {
      FnType* fn;
      std::exception_ptr thrown;
    } call{&fn, nullptr};
    detail::Thunk thunk = [](void* p) noexcept {
      auto* c = static_cast<Call*>(p);
      detail::run_caught(*c->fn, c->thrown);
    };
    ErrorData* e = detail::try_pg_call(thunk, &call);
    if (call.thrown) std::rethrow_exception(call.thrown);
    if (e) throw PgError(e);
  } else {
    static_assert(std::is_trivially_destructible_v<Result>,
                  "pg_guard results must be plain values (Datum, pointers, numbers)");
    struct Call {
      FnType* fn;
      Result result;
      std::exception_ptr thrown;
    } call{&fn, Result{}, nullptr};
    detail::Thunk thunk = [](void* p) noexcept {
      auto* c = static_cast<Call*>(p);
      auto store = [c] { c->result = (*c->fn)(); };
      detail::run_caught(store, c->thrown);
    };
    ErrorData* e = detail::try_pg_call(thunk, &call);
    if (call.thrown) std::rethrow_exception(call.thrown);
    if (e) throw PgError(e);
    return call.result;
  }
}

using EntryBody = Datum (*)(FunctionCallInfo);

// Runs a SQL-callable function's C++ body; reports any exception as a
// PostgreSQL error after the catch block is left. Unless check_version is
// false, first refuses to run against an installed extension of another
// version (see version.hpp).
Datum run_entry(FunctionCallInfo fcinfo, EntryBody body, bool check_version = true);

}  // namespace pgj::pg

// Defines SQL-callable function `name`; the braces that follow are its C++ body.
#define PGJ_FUNCTION(name)                                            \
  static Datum name##_body([[maybe_unused]] FunctionCallInfo fcinfo); \
  extern "C" {                                                        \
  PG_FUNCTION_INFO_V1(name);                                          \
  Datum name(PG_FUNCTION_ARGS) {                                      \
    return ::pgj::pg::run_entry(fcinfo, name##_body);                 \
  }                                                                   \
  }                                                                   \
  static Datum name##_body([[maybe_unused]] FunctionCallInfo fcinfo)

// Like PGJ_FUNCTION, without the version check: for event triggers, which fire
// for every role's DDL and must not block it (nor DROP EXTENSION pg_journey)
// while the library and the installed extension differ. Such a body may touch
// only the catalogs, never the journey tables.
#define PGJ_FUNCTION_ANY_VERSION(name)                                \
  static Datum name##_body([[maybe_unused]] FunctionCallInfo fcinfo); \
  extern "C" {                                                        \
  PG_FUNCTION_INFO_V1(name);                                          \
  Datum name(PG_FUNCTION_ARGS) {                                      \
    return ::pgj::pg::run_entry(fcinfo, name##_body, false);          \
  }                                                                   \
  }                                                                   \
  static Datum name##_body([[maybe_unused]] FunctionCallInfo fcinfo)
