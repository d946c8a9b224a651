// AsOwner: switch to a role for user code and restore everything after.
#include "pg/as_owner.hpp"

#include "pg/bridge.hpp"

namespace pgj::pg {

AsOwner::AsOwner(Oid role, bool restricted) {
  pg_guard([&] {
    GetUserIdAndSecContext(&saved_user_, &saved_context_);
    guc_level_ = NewGUCNestLevel();
    SetUserIdAndSecContext(role, saved_context_ | SECURITY_LOCAL_USERID_CHANGE |
                                     (restricted ? SECURITY_RESTRICTED_OPERATION : 0));
  });
}

AsOwner::~AsOwner() {
  Oid user = saved_user_;
  int context = saved_context_;
  int level = guc_level_;
  try {
    // The user id first: it cannot fail, and must be restored whatever follows.
    SetUserIdAndSecContext(user, context);
    pg_guard([&] { AtEOXact_GUC(false, level); });
  } catch (...) {
    // Out of memory while undoing settings: the transaction's abort undoes them.
  }
}

}  // namespace pgj::pg
