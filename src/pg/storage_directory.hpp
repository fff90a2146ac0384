// The storage directory (pg_tenant_backup.storage_path): this database's
// folders in it, their marker files, and the temporary and orphaned files
// that interrupted writes leave there.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

namespace ptb::pg {

// This database's folder under the storage directory
// (core::database_folder_name: "<database>-<oid>"), where its new files go.
struct StorageFolder {
  std::string root;  // pg_tenant_backup.storage_path
  std::string name;  // "<database>-<oid>"
  std::string path() const { return root + "/" + name; }
};

// The storage directory and this database's folder in it, created (mode
// 0700) when missing, the folder with its marker file (core::kFolderMarker:
// this database's OID and the cluster's system identifier). A folder of
// that name whose marker names another database or cluster is refused
// (55000). Removes temporary files left by backends that no longer exist,
// in the folder and in the storage directory itself (0.1.0 layout).
StorageFolder prepare_storage_directory();

// Removes the temporary files of writes whose backend no longer exists
// (a backup killed, or the server stopped, mid-write) from this database's
// folders (checked by their marker), creating nothing: the scheduler's
// recovery at start, so that no leftover waits for the next backup.
void remove_stale_temporary_files();

// Checks, by its marker file, that the folder `folder_name` of the storage
// directory is this database's, before a file in it is read, replaced or
// removed: 55000 when the marker names another database or cluster, or is
// missing or unreadable while the folder exists. Returns false when the
// folder does not exist.
bool check_own_folder(const std::string& folder_name);

// Removes the complete snapshot files of these backup_logs ids (rows an
// interruption left failed after their file was renamed into place): only
// files in this database's folders (checked by their marker) whose names
// carry this database's OID, never a file of another database or of the
// 0.1.0 layout. Nothing when there is no such folder.
void remove_snapshot_files_of(const std::set<int64_t>& ids);

// Change capture's directory, "<this database's folder>/changes" (mode
// 0700), created with the folder when missing; returns the folder.
StorageFolder prepare_changes_directory();
}  // namespace ptb::pg
