// A planner hook refusing enroll/track calls with a null customer id before
// Citus plans them (see null_customer.cpp).
#pragma once

namespace pgj::pg {

// Installs the hook (from _PG_init, when preloaded).
void install_null_customer_check();

}  // namespace pgj::pg
