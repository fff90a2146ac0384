// Names of snapshot files in the storage directory, and the archive
// command run on a finished file. Names are derived from ids and times,
// never taken raw from a tenant name, so no tenant can pick a path.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/compression.hpp"

namespace ptb::core {

// "tenant-<tenant>-<UTC time>-<id>.json[.zst][.enc]", e.g.
// "tenant-acme_42-20261121T222300Z-17.json.zst", or for a whole-database
// snapshot (tenant nullopt) "database-20261121T222300Z-17.json". <tenant>
// keeps the tenant's bytes in [A-Za-z0-9_-], others become '_', and is cut
// at 40 bytes; the id keeps names unique; ".enc" ends the name of an
// encrypted file. Throws Error(22023) for a negative id or a time outside
// years 1970-9999.
std::string snapshot_file_name(const std::optional<std::string>& tenant, int64_t id,
                               int64_t unix_seconds, Compression compression,
                               bool encrypted = false);

// Whether a name is acceptable as a snapshot file in the storage
// directory: 1 to 128 bytes of [A-Za-z0-9_.-], not starting with '.', no
// "..", ending in ".json" or ".json.zst", either maybe followed by ".enc"
// (so never a temporary name).
bool is_snapshot_file_name(std::string_view name);

// The backup_logs id a snapshot file name carries (the number before
// ".json"), or nullopt for a name snapshot_file_name cannot have made.
std::optional<int64_t> snapshot_id_of_file_name(std::string_view name);

// Where a file is written before it is complete: final_name + ".tmp".
std::string temporary_file_name(std::string_view final_name);

// The command to run for a finished file, built from a template as
// PostgreSQL's archive_command is: %p is replaced by path, %f by file_name,
// %% by a single %; any other % is left as is. The substituted values are
// quoted for a POSIX shell ('...', with ' written '\''), so no path or
// name can add shell syntax. A value containing a NUL byte throws
// Error(22023): it would cut the command short.
std::string format_archive_command(std::string_view command_template, std::string_view path,
                                   std::string_view file_name);

}  // namespace ptb::core
