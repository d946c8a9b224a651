// journey._bridge_selftest: proves the error bridge in both directions from SQL.
// Not part of the public API (EXECUTE revoked from PUBLIC).
#include <stdexcept>
#include <string>

#include "core/error.hpp"
#include "pg/bridge.hpp"
#include "pg/convert.hpp"

namespace {

int destructor_runs = 0;  // how many Sentinels were destroyed during unwinding

// Counts its destruction, so a test can see C++ unwinding happened.
struct Sentinel {
  ~Sentinel() { ++destructor_runs; }
};

}  // namespace

using namespace pgj;

// mode 'cpp_error': a core::Error with SQLSTATE 22023 and detail/hint;
// 'std_error': a plain std::exception (XX000); 'pg_error': a PostgreSQL error
// (division by zero) raised under pg_guard while a C++ object is alive;
// 'cpp_in_guard': a C++ exception thrown inside pg_guard (reported as XX000
// once the PostgreSQL exception stack is restored);
// 'destructor_runs': how many such objects were destroyed so far; 'ok': 42.
PGJ_FUNCTION(pgj_bridge_selftest) {
  std::string mode = pg::arg_string(fcinfo, 0);
  if (mode == "cpp_error")
    throw core::Error("22023", "selftest: C++ error", "selftest detail", "selftest hint");
  if (mode == "std_error") throw std::runtime_error("selftest: std::exception");
  if (mode == "pg_error") {
    Sentinel alive;
    pg::pg_guard([] { return DirectFunctionCall2(int4div, Int32GetDatum(1), Int32GetDatum(0)); });
    return Int32GetDatum(-1);  // not reached
  }
  if (mode == "cpp_in_guard") {
    pg::pg_guard([] { throw std::runtime_error("selftest: C++ exception inside pg_guard"); });
    return Int32GetDatum(-1);  // not reached
  }
  if (mode == "destructor_runs") return Int32GetDatum(destructor_runs);
  if (mode == "ok") return Int32GetDatum(42);
  throw core::Error("22023", "unknown selftest mode \"" + mode + "\"");
}
