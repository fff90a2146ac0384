#include "pg/storage_directory.hpp"

#include <unistd.h>
#include <cstring>

#include "core/error.hpp"
#include "core/storage_names.hpp"
#include "pg/file_io.hpp"
#include "pg/server_log.hpp"
#include "pg/session.hpp"
#include "pg/settings.hpp"

namespace ptb::pg {

namespace {

// "<final name>.<pid>.tmp": the PID says whose write it is.
bool stale_temporary(const char* name) {
  size_t len = strlen(name);
  if (len < 5 || strcmp(name + len - 4, ".tmp") != 0) return false;
  const char* end = name + len - 4;
  const char* dot = end;
  while (dot > name && dot[-1] != '.') --dot;
  if (dot == name || dot == end) return false;
  int pid = 0;
  for (const char* p = dot; p < end; ++p) {
    if (*p < '0' || *p > '9') return false;
    pid = pid * 10 + (*p - '0');
  }
  return !backend_alive(pid);
}

void remove_stale_temporaries(const std::string& dir) {
  for (const auto& name : list_directory(dir)) {
    if (!stale_temporary(name.c_str())) continue;
    const std::string path = dir + "/" + name;
    if (unlink(path.c_str()) == 0)
      report({LogLevel::Log, "pg_tenant_backup: removed temporary file \"" + path + "\" of an interrupted backup"});
  }
}

constexpr const char* kStorageDirectory = "snapshot storage directory";

// The marker's text, or nullopt when there is no marker file. Small: read
// up to 4 kB.
std::optional<std::string> read_marker(const std::string& folder_path) {
  return read_small_file(folder_path + "/" + core::kFolderMarker, 4096);
}

// Refuses a folder whose marker is not this database's of this cluster.
void check_marker(const std::string& folder_name, const std::string& text) {
  const auto owner = core::parse_folder_marker(text);
  const uint64_t system = system_identifier();
  if (!owner)
    throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                      "snapshot storage folder \"" + folder_name + "\" has no valid " +
                          core::kFolderMarker + " file",
                      "Its " + std::string(core::kFolderMarker) +
                          " file says which database and cluster the folder belongs to; without it "
                          "no file in the folder is read, replaced or removed.",
                      "Check pg_tenant_backup.storage_path; move the folder away if it is not "
                      "this database's.");
  if (owner->database_oid != database_oid() || owner->system_identifier != system)
    throw core::Error(
        core::sqlstate::kObjectNotInPrerequisiteState,
        "snapshot storage folder \"" + folder_name + "\" belongs to another " +
            (owner->system_identifier != system ? "cluster" : "database"),
        "Its " + std::string(core::kFolderMarker) + " file names database OID " +
            std::to_string(owner->database_oid) + " of the cluster with system identifier " +
            std::to_string(owner->system_identifier) + "; this is database OID " +
            std::to_string(database_oid()) + " of " + std::to_string(system) + ".",
        "Give each cluster its own pg_tenant_backup.storage_path; no file of another database or "
        "cluster is read, replaced or removed.");
}

void write_marker(const std::string& folder_path, const std::string& database) {
  const std::string path = folder_path + "/" + core::kFolderMarker;
  const std::string temporary = path + "." + std::to_string(backend_pid()) + ".tmp";
  const std::string text = core::format_folder_marker(database, database_oid(), system_identifier());
  try {
    FileSink file(temporary);
    file.write(text);
    file.finish();
    (void)file.sha256();  // frees the hash context
    rename_durably(temporary, path);
  } catch (...) {
    remove_file_quietly(temporary);
    throw;
  }
}

// This database's folders: those whose names carry its OID and whose
// markers say so (more than one after ALTER DATABASE ... RENAME).
std::vector<std::string> own_folders(const std::string& root) {
  std::vector<std::string> names;
  if (!is_directory(root)) return names;
  for (const auto& name : list_directory(root))
    if (core::database_oid_of_folder_name(name) == database_oid()) names.push_back(name);
  std::vector<std::string> own;
  for (const auto& name : names) {
    try {
      if (check_own_folder(name)) own.push_back(name);
    } catch (const core::Error&) {
      // Not this database's: left alone.
    }
  }
  return own;
}

}  // namespace

StorageFolder prepare_storage_directory() {
  StorageFolder folder;
  folder.root = storage_settings().storage_path;
  make_directory(folder.root, kStorageDirectory);
  // The current database exists while this backend is connected to it.
  const std::string database = database_name(database_oid()).value_or("");
  folder.name = core::database_folder_name(database, database_oid());
  const std::string path = folder.path();
  make_directory(path, kStorageDirectory);
  if (auto marker = read_marker(path))
    check_marker(folder.name, *marker);
  else
    write_marker(path, database);  // a new folder (or one whose creation was cut short)
  remove_stale_temporaries(folder.root);
  remove_stale_temporaries(path);
  return folder;
}

void remove_stale_temporary_files() {
  const std::string root = storage_settings().storage_path;
  for (const auto& name : own_folders(root)) remove_stale_temporaries(root + "/" + name);
}

bool check_own_folder(const std::string& folder_name) {
  const std::string path = storage_settings().storage_path + "/" + folder_name;
  if (!is_directory(path)) return false;
  auto marker = read_marker(path);
  check_marker(folder_name, marker.value_or(""));
  return true;
}

void remove_snapshot_files_of(const std::set<int64_t>& ids) {
  if (ids.empty()) return;
  const std::string root = storage_settings().storage_path;
  std::vector<std::string> doomed;
  for (const auto& folder : own_folders(root)) {
    const std::string dir = root + "/" + folder;
    for (const auto& name : list_directory(dir)) {
      const auto id = core::snapshot_id_of_file_name(name);
      if (id && ids.count(*id) && core::database_oid_of_file_name(name) == database_oid())
        doomed.push_back(dir + "/" + name);
    }
  }
  for (const auto& path : doomed)
    if (remove_file_quietly(path))
      report({LogLevel::Log, "pg_tenant_backup: removed snapshot file \"" + path + "\" of an interrupted backup"});
}

StorageFolder prepare_changes_directory() {
  const StorageFolder folder = prepare_storage_directory();
  const std::string dir = folder.path() + "/changes";
  const bool existed = is_directory(dir);
  make_directory(dir, kStorageDirectory);
  if (!existed) sync_directory(folder.path());
  return folder;
}

}  // namespace ptb::pg
