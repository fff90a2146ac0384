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

// "tenant-<tenant>-<UTC time>-db<database oid>-<id>.json[.zst][.enc]",
// e.g. "tenant-acme_42-20261121T222300Z-db16384-17.json.zst", or for a
// whole-database snapshot (tenant nullopt)
// "database-20261121T222300Z-db16384-17.json". <tenant> keeps the tenant's
// bytes in [A-Za-z0-9_-], others become '_', and is cut at 40 bytes; the
// database OID and the log id together keep names unique across the
// server; ".enc" ends the name of an encrypted file. Throws Error(22023)
// for a negative id or a time outside years 1970-9999.
std::string snapshot_file_name(const std::optional<std::string>& tenant, uint32_t database_oid,
                               int64_t id, int64_t unix_seconds, Compression compression,
                               bool encrypted = false);

// The folder of one database's snapshot files under the storage directory:
// "<database name>-<database oid>", e.g. "shop-16384". The name keeps its
// bytes in [A-Za-z0-9_-] (others become '_') and is cut at 40 bytes: it is
// there for people; the OID is what identifies the database.
std::string database_folder_name(std::string_view database_name, uint32_t database_oid);

// The database OID a folder name carries, or nullopt for a name that
// database_folder_name cannot have made.
std::optional<uint32_t> database_oid_of_folder_name(std::string_view folder);

// The text of the marker file (kFolderMarker) in a database's folder: who
// the folder belongs to, for people and for the checks before a file in it
// is read, replaced or removed.
inline constexpr const char* kFolderMarker = "DATABASE";
std::string format_folder_marker(std::string_view database_name, uint32_t database_oid,
                                 uint64_t system_identifier);
struct FolderOwner {
  uint32_t database_oid = 0;
  uint64_t system_identifier = 0;
};
// nullopt when the text is not a marker format_folder_marker wrote.
std::optional<FolderOwner> parse_folder_marker(std::string_view text);

// Whose file a backup_logs row's file_name points at, decided from the
// name alone (no file is opened):
//   This     "<folder>/<name>", folder and name carrying `database_oid`
//            and the name the row's id;
//   Other    the same shape, but folder or name carry another database's
//            OID (a row copied by CREATE DATABASE ... TEMPLATE or by a dump
//            restored into another database); `database_oid` is the name's;
//   Legacy   a bare name of the 0.1.0 layout, in the storage directory
//            itself ("tenant-<tenant>-<UTC time>-<id>.json...");
//   Invalid  anything else, including a name of this database with another
//            row's id.
enum class FileOwner { This, Other, Legacy, Invalid };
struct StoredFileOwner {
  FileOwner owner = FileOwner::Invalid;
  uint32_t database_oid = 0;  // This / Other: the OID in the file name
};
StoredFileOwner owner_of_stored_file(std::string_view row_file_name, int64_t row_id,
                                     uint32_t database_oid);

// The database a snapshot document records (metadata.database), found in
// the first bytes of the document: nullopt when `prefix` ends before it (or
// is not a snapshot). Reads nothing but `prefix`: the check of a 0.1.0
// file's owner before it is removed never reads a whole file.
std::optional<std::string> database_in_snapshot_prefix(std::string_view prefix);

// Whether a name is acceptable as a snapshot file in the storage
// directory: 1 to 128 bytes of [A-Za-z0-9_.-], not starting with '.', no
// "..", ending in ".json" or ".json.zst", either maybe followed by ".enc"
// (so never a temporary name).
bool is_snapshot_file_name(std::string_view name);

// The backup_logs id a snapshot file name carries (the number before
// ".json"), or nullopt for a name snapshot_file_name cannot have made.
std::optional<int64_t> snapshot_id_of_file_name(std::string_view name);

// The database OID a snapshot file name carries (the "db<oid>" before its
// id), or nullopt: a name of the 0.1.0 layout, or not a snapshot name.
std::optional<uint32_t> database_oid_of_file_name(std::string_view name);

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
