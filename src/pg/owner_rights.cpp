#include "pg/owner_rights.hpp"

#include "pg/guarded.hpp"
#include "pg/setting_levels.hpp"

namespace ptb::pg {

OwnerRights enter_owner_rights(Oid owner) {
  OwnerRights saved;
  saved.guc_level = set_setting("search_path", kPinnedSearchPath);
  guarded([&] {
    GetUserIdAndSecContext(&saved.caller, &saved.security_context);
    SetUserIdAndSecContext(owner, saved.security_context | SECURITY_LOCAL_USERID_CHANGE |
                                      SECURITY_RESTRICTED_OPERATION);
  });
  return saved;
}

void leave_owner_rights(const OwnerRights& saved) {
  guarded([&] {
    SetUserIdAndSecContext(saved.caller, saved.security_context);
  });
  undo_settings(saved.guc_level);
}

void pin_worker_search_path() {
  guarded([] { SetConfigOption("search_path", kPinnedSearchPath, PGC_SUSET, PGC_S_OVERRIDE); });
}

}  // namespace ptb::pg
