#include "pg/owner_rights.hpp"

#include "pg/guarded.hpp"

namespace ptb::pg {

OwnerRights enter_owner_rights(Oid owner) {
  OwnerRights saved;
  guarded([&] {
    GetUserIdAndSecContext(&saved.caller, &saved.security_context);
    saved.guc_level = NewGUCNestLevel();
    (void)set_config_option("search_path", kPinnedSearchPath, PGC_USERSET, PGC_S_SESSION,
                            GUC_ACTION_SAVE, true, 0, false);
    SetUserIdAndSecContext(owner, saved.security_context | SECURITY_LOCAL_USERID_CHANGE |
                                      SECURITY_RESTRICTED_OPERATION);
  });
  return saved;
}

void leave_owner_rights(const OwnerRights& saved) {
  guarded([&] {
    SetUserIdAndSecContext(saved.caller, saved.security_context);
    AtEOXact_GUC(true, saved.guc_level);
  });
}

void pin_worker_search_path() {
  guarded([] { SetConfigOption("search_path", kPinnedSearchPath, PGC_SUSET, PGC_S_OVERRIDE); });
}

}  // namespace ptb::pg
