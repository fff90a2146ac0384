#include "pg/storage_directory.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.hpp"
#include "core/storage_names.hpp"
#include "pg/guarded.hpp"
#include "pg/file_io.hpp"
#include "pg/settings.hpp"

extern "C" {
#include "access/xlog.h"
#include "commands/dbcommands.h"
#include "common/file_perm.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/procarray.h"
}

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
  return BackendPidGetProc(pid) == nullptr;
}

void remove_stale_temporaries(const std::string& dir) {
  DIR* d = AllocateDir(dir.c_str());
  struct dirent* entry;
  while ((entry = ReadDir(d, dir.c_str())) != nullptr) {
    if (stale_temporary(entry->d_name)) {
      char path[MAXPGPATH];
      snprintf(path, sizeof path, "%s/%s", dir.c_str(), entry->d_name);
      if (unlink(path) == 0)
        ereport(LOG, (errmsg("pg_tenant_backup: removed temporary file \"%s\" of an interrupted backup", path)));
    }
  }
  FreeDir(d);
}

// Creates a directory (mode 0700) when missing; refuses a non-directory.
void make_directory(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    if (pg_mkdir_p(const_cast<char*>(dir.c_str()), pg_dir_create_mode) != 0 && errno != EEXIST)
      ereport(ERROR, (errcode_for_file_access(),
                      errmsg("could not create snapshot storage directory \"%s\": %m", dir.c_str()),
                      errhint("Check pg_tenant_backup.storage_path and the server's rights.")));
    (void)chmod(dir.c_str(), S_IRWXU);
  } else if (!S_ISDIR(st.st_mode)) {
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("snapshot storage directory \"%s\" is not a directory", dir.c_str()),
                    errhint("Check pg_tenant_backup.storage_path.")));
  }
}

bool is_directory(const std::string& dir) {
  struct stat st;
  return stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The marker's text, or nullopt when there is no marker file. Small: read
// up to 4 kB.
std::optional<std::string> read_marker(const std::string& folder_path) {
  const std::string path = folder_path + "/" + core::kFolderMarker;
  std::optional<std::string> text;
  guarded([&] {
    int fd = OpenTransientFile(path.c_str(), O_RDONLY | PG_BINARY);
    if (fd < 0) {
      if (errno == ENOENT) return;
      ereport(ERROR, (errcode_for_file_access(), errmsg("could not open \"%s\": %m", path.c_str())));
    }
    char buffer[4096];
    ssize_t n = read(fd, buffer, sizeof buffer);
    CloseTransientFile(fd);
    if (n < 0)
      ereport(ERROR, (errcode_for_file_access(), errmsg("could not read \"%s\": %m", path.c_str())));
    text = std::string(buffer, static_cast<size_t>(n));
  });
  return text;
}

// Refuses a folder whose marker is not this database's of this cluster.
void check_marker(const std::string& folder_name, const std::string& text) {
  const auto owner = core::parse_folder_marker(text);
  const uint64_t system = GetSystemIdentifier();
  if (!owner)
    throw core::Error(core::sqlstate::kObjectNotInPrerequisiteState,
                      "snapshot storage folder \"" + folder_name + "\" has no valid " +
                          core::kFolderMarker + " file",
                      "Its " + std::string(core::kFolderMarker) +
                          " file says which database and cluster the folder belongs to; without it "
                          "no file in the folder is read, replaced or removed.",
                      "Check pg_tenant_backup.storage_path; move the folder away if it is not "
                      "this database's.");
  if (owner->database_oid != MyDatabaseId || owner->system_identifier != system)
    throw core::Error(
        core::sqlstate::kObjectNotInPrerequisiteState,
        "snapshot storage folder \"" + folder_name + "\" belongs to another " +
            (owner->system_identifier != system ? "cluster" : "database"),
        "Its " + std::string(core::kFolderMarker) + " file names database OID " +
            std::to_string(owner->database_oid) + " of the cluster with system identifier " +
            std::to_string(owner->system_identifier) + "; this is database OID " +
            std::to_string(MyDatabaseId) + " of " + std::to_string(system) + ".",
        "Give each cluster its own pg_tenant_backup.storage_path; no file of another database or "
        "cluster is read, replaced or removed.");
}

void write_marker(const std::string& folder_path, const std::string& database) {
  const std::string path = folder_path + "/" + core::kFolderMarker;
  const std::string temporary = path + "." + std::to_string(MyProcPid) + ".tmp";
  const std::string text = core::format_folder_marker(database, MyDatabaseId, GetSystemIdentifier());
  try {
    FileSink file(temporary);
    file.write(text);
    file.finish();
    (void)file.sha256();  // frees the hash context
    guarded([&] { (void)durable_rename(temporary.c_str(), path.c_str(), ERROR); });
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
  guarded([&] {
    DIR* d = AllocateDir(root.c_str());
    struct dirent* entry;
    while ((entry = ReadDir(d, root.c_str())) != nullptr)
      if (core::database_oid_of_folder_name(entry->d_name) == MyDatabaseId)
        names.emplace_back(entry->d_name);
    FreeDir(d);
  });
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
  std::string database;
  guarded([&] {
    make_directory(folder.root);
    database = get_database_name(MyDatabaseId);
  });
  folder.name = core::database_folder_name(database, MyDatabaseId);
  const std::string path = folder.path();
  guarded([&] { make_directory(path); });
  if (auto marker = read_marker(path))
    check_marker(folder.name, *marker);
  else
    write_marker(path, database);  // a new folder (or one whose creation was cut short)
  guarded([&] {
    remove_stale_temporaries(folder.root);
    remove_stale_temporaries(path);
  });
  return folder;
}

void remove_stale_temporary_files() {
  const std::string root = storage_settings().storage_path;
  for (const auto& name : own_folders(root))
    guarded([&] { remove_stale_temporaries(root + "/" + name); });
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
    guarded([&] {
      DIR* d = AllocateDir(dir.c_str());
      struct dirent* entry;
      while ((entry = ReadDir(d, dir.c_str())) != nullptr) {
        const auto id = core::snapshot_id_of_file_name(entry->d_name);
        if (id && ids.count(*id) && core::database_oid_of_file_name(entry->d_name) == MyDatabaseId)
          doomed.push_back(dir + "/" + entry->d_name);
      }
      FreeDir(d);
    });
  }
  for (const auto& path : doomed)
    if (remove_file_quietly(path))
      guarded([&] {
        ereport(LOG, (errmsg("pg_tenant_backup: removed snapshot file \"%s\" of an interrupted backup",
                             path.c_str())));
      });
}

StorageFolder prepare_changes_directory() {
  const StorageFolder folder = prepare_storage_directory();
  const std::string dir = folder.path() + "/changes";
  guarded([&] {
    const bool existed = is_directory(dir);
    make_directory(dir);
    if (!existed) fsync_fname(folder.path().c_str(), true);
  });
  return folder;
}

}  // namespace ptb::pg
