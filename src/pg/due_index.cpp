// See due_index.hpp.
#include "pg/due_index.hpp"

extern "C" {
#include "utils/guc.h"
}

namespace pgj::pg {

int begin_due_index_walk() {
  int level = NewGUCNestLevel();
  (void)set_config_option("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
                          true, 0, false);
  (void)set_config_option("enable_sort", "off", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true,
                          0, false);
  return level;
}

void end_due_index_walk(int level) {
  AtEOXact_GUC(true, level);
}

}  // namespace pgj::pg
