// The tenant's lock: one import or restore of a tenant at a time, and
// applications may wait for it (docs/import.md).
#pragma once

#include <optional>
#include <string>

#include "core/options.hpp"

namespace ptb::pg {

// The tenant's import / restore lock (a transaction-level advisory lock on
// keys derived from the database and the tenant as tenant_lock_key spells
// it under `options`; nullopt: the whole database). Throws 55P03 when
// another session holds it. Needs SPI and fix_output_settings.
void lock_tenant(const std::optional<std::string>& tenant, const core::SnapshotOptions& options);
// Is the lock held now (by any session)? Needs SPI and fix_output_settings.
bool tenant_busy(const std::optional<std::string>& tenant, const core::SnapshotOptions& options);

}  // namespace ptb::pg
