// Runs user code (call steps, segment queries, field updates) with the journey
// owner's privileges, the way PostgreSQL runs index expressions: the user id
// switched, optionally a restricted security context (no SET ROLE, no temp
// tables, ...), and every setting the code changes undone afterwards, so it
// cannot leave a search_path behind for the engine's own statements.
#pragma once
#include "pg/postgres.hpp"

namespace pgj::pg {

class AsOwner {
 public:
  AsOwner(Oid role, bool restricted);
  ~AsOwner();
  AsOwner(const AsOwner&) = delete;
  AsOwner& operator=(const AsOwner&) = delete;

 private:
  Oid saved_user_ = InvalidOid;
  int saved_context_ = 0;
  int guc_level_ = 0;
};

}  // namespace pgj::pg
