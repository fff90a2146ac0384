// The pg_tenant_backup.* settings (GUCs) and the per-call opts on top.
#pragma once

#include "core/options.hpp"
#include "pg/server.hpp"

namespace ptb::pg {

// Called once from _PG_init.
void define_settings();

// The snapshot options in force: settings, then opts (may be null).
core::SnapshotOptions snapshot_options(Jsonb* opts);

// jsonb as JSON text (for the core parsers).
std::string jsonb_text(Jsonb* value);

}  // namespace ptb::pg
