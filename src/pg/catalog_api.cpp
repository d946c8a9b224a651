// journey.catalog(): the machine-readable description of every step type,
// entry trigger, exit rule and setting (src/core/catalog.hpp), for the builder
// and any other client that generates forms.
#include "core/catalog.hpp"
#include "pg/bridge.hpp"
#include "pg/convert.hpp"

using namespace pgj;

// journey.catalog() returns jsonb.
PGJ_FUNCTION(pgj_catalog) {
  return pg::json_to_jsonb(core::catalog_json());
}
