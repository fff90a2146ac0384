#include "core/storage_names.hpp"

#include <chrono>
#include <cstdio>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace ptb::core {

namespace {

constexpr size_t kMaxTenantPart = 40;
constexpr size_t kMaxFileName = 128;
// 9999-12-31T23:59:59Z: the timestamp keeps four digits of year.
constexpr int64_t kLastSecond = 253402300799;

bool is_name_byte(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::string tenant_part(std::string_view tenant) {
  std::string out;
  for (char c : tenant.substr(0, kMaxTenantPart)) out += is_name_byte(c) ? c : '_';
  return out;
}

// 20261121T222300Z
std::string utc_timestamp(int64_t unix_seconds) {
  using namespace std::chrono;
  const int64_t day = unix_seconds / 86400;
  const int64_t second_of_day = unix_seconds % 86400;
  const year_month_day date{sys_days{days{day}}};
  char text[32];
  std::snprintf(text, sizeof text, "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(second_of_day / 3600), static_cast<int>(second_of_day / 60 % 60),
                static_cast<int>(second_of_day % 60));
  return text;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

void append_shell_quoted(std::string& out, std::string_view value) {
  out += '\'';
  for (char c : value) {
    if (c == '\'')
      out += "'\\''";  // close the quote, an escaped quote, reopen
    else
      out += c;
  }
  out += '\'';
}

}  // namespace

std::string snapshot_file_name(const std::optional<std::string>& tenant, uint32_t database_oid,
                               int64_t id, int64_t unix_seconds, Compression compression,
                               bool encrypted) {
  if (id < 0)
    throw Error(sqlstate::kInvalidParameterValue,
                "snapshot id " + std::to_string(id) + " is negative");
  if (unix_seconds < 0 || unix_seconds > kLastSecond)
    throw Error(sqlstate::kInvalidParameterValue, "snapshot time " + std::to_string(unix_seconds) +
                                                      " is outside the years 1970 to 9999");
  std::string name = tenant ? "tenant-" + tenant_part(*tenant) : "database";
  name += '-';
  name += utc_timestamp(unix_seconds);
  name += "-db";
  name += std::to_string(database_oid);
  name += '-';
  name += std::to_string(id);
  name += compression == Compression::Zstd ? ".json.zst" : ".json";
  if (encrypted) name += ".enc";
  return name;
}

bool is_snapshot_file_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxFileName || name.front() == '.') return false;
  for (char c : name)
    if (!is_name_byte(c) && c != '.') return false;
  if (name.find("..") != std::string_view::npos) return false;
  if (ends_with(name, ".enc")) name.remove_suffix(4);
  return ends_with(name, ".json") || ends_with(name, ".json.zst");
}

std::optional<int64_t> snapshot_id_of_file_name(std::string_view name) {
  if (!is_snapshot_file_name(name)) return std::nullopt;
  const size_t json = name.rfind(".json");
  const size_t dash = name.substr(0, json).rfind('-');
  if (dash == std::string_view::npos || dash + 1 == json || json - dash - 1 > 18) return std::nullopt;
  int64_t id = 0;
  for (char c : name.substr(dash + 1, json - dash - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    id = id * 10 + (c - '0');
  }
  return id;
}

namespace {

// Digits only, 1 to max_digits of them: the number, else nullopt.
std::optional<uint64_t> number_of(std::string_view digits, size_t max_digits) {
  if (digits.empty() || digits.size() > max_digits) return std::nullopt;
  uint64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

std::optional<uint32_t> oid_of(std::string_view digits) {
  auto n = number_of(digits, 10);
  if (!n || *n > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(*n);
}

// "20261121T222300Z"
bool is_timestamp(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return false;
  return number_of(s.substr(0, 8), 8) && number_of(s.substr(9, 6), 6);
}

// The token before the id of a snapshot file name (between the last two
// dashes before ".json"), or "" when there is none.
std::string_view token_before_id(std::string_view name) {
  const size_t json = name.rfind(".json");
  const size_t dash = name.substr(0, json).rfind('-');
  if (dash == std::string_view::npos || dash == 0) return {};
  const size_t before = name.substr(0, dash).rfind('-');
  if (before == std::string_view::npos) return {};
  return name.substr(before + 1, dash - before - 1);
}

}  // namespace

std::optional<uint32_t> database_oid_of_file_name(std::string_view name) {
  if (!snapshot_id_of_file_name(name)) return std::nullopt;
  std::string_view token = token_before_id(name);
  if (token.size() < 3 || token.substr(0, 2) != "db") return std::nullopt;
  return oid_of(token.substr(2));
}

std::string database_folder_name(std::string_view database_name, uint32_t database_oid) {
  std::string name = tenant_part(database_name);
  if (name.empty()) name = "_";
  return name + "-" + std::to_string(database_oid);
}

std::optional<uint32_t> database_oid_of_folder_name(std::string_view folder) {
  const size_t dash = folder.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash > kMaxTenantPart) return std::nullopt;
  for (char c : folder.substr(0, dash))
    if (!is_name_byte(c)) return std::nullopt;
  return oid_of(folder.substr(dash + 1));
}

std::string format_folder_marker(std::string_view database_name, uint32_t database_oid,
                                 uint64_t system_identifier) {
  // The name is for people: kept to printable ASCII on its line.
  std::string printable;
  for (char c : database_name) printable += (c >= 0x20 && c < 0x7f) ? c : '?';
  return "pg_tenant_backup storage folder of one database\n"
         "database_oid: " + std::to_string(database_oid) + "\n" +
         "system_identifier: " + std::to_string(system_identifier) + "\n" +
         "database: " + printable + "\n";
}

std::optional<FolderOwner> parse_folder_marker(std::string_view text) {
  auto value = [&](std::string_view key) -> std::optional<uint64_t> {
    const std::string line = "\n" + std::string(key) + ": ";
    const size_t at = text.find(line);
    if (at == std::string_view::npos) return std::nullopt;
    const size_t start = at + line.size();
    const size_t end = text.find('\n', start);
    if (end == std::string_view::npos) return std::nullopt;
    return number_of(text.substr(start, end - start), 20);
  };
  if (text.substr(0, 33) != "pg_tenant_backup storage folder o") return std::nullopt;
  auto oid = value("database_oid");
  auto system = value("system_identifier");
  if (!oid || *oid > UINT32_MAX || !system) return std::nullopt;
  return FolderOwner{static_cast<uint32_t>(*oid), *system};
}

StoredFileOwner owner_of_stored_file(std::string_view row_file_name, int64_t row_id,
                                     uint32_t database_oid) {
  const size_t slash = row_file_name.find('/');
  if (slash == std::string_view::npos) {
    // 0.1.0: a bare name, no database in it.
    if (snapshot_id_of_file_name(row_file_name) == row_id &&
        is_timestamp(token_before_id(row_file_name)))
      return {FileOwner::Legacy, 0};
    return {};
  }
  const auto folder_oid = database_oid_of_folder_name(row_file_name.substr(0, slash));
  const std::string_view name = row_file_name.substr(slash + 1);
  const auto name_oid = database_oid_of_file_name(name);
  if (!folder_oid || !name_oid) return {};
  if (*folder_oid != database_oid || *name_oid != database_oid)
    return {FileOwner::Other, *name_oid};
  if (snapshot_id_of_file_name(name) != row_id) return {};
  return {FileOwner::This, *name_oid};
}

namespace {

// Follows a document's keys until metadata.database; stops there (or at
// the end of the prefix, which is a parse error to nlohmann).
struct DatabaseFinder : nlohmann::json_sax<nlohmann::json> {
  std::vector<bool> object;      // per open container: object or array
  std::vector<std::string> keys;  // per open container: its current key
  std::optional<std::string> found;

  bool push(bool is_object) {
    object.push_back(is_object);
    keys.emplace_back();
    return true;
  }
  bool pop() {
    object.pop_back();
    keys.pop_back();
    return !object.empty();  // the top-level object ended: stop
  }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t& value) override {
    if (object.size() == 2 && object[0] && object[1] && keys[0] == "metadata" &&
        keys[1] == "database") {
      found = value;
      return false;
    }
    return true;
  }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return push(true); }
  bool key(string_t& value) override {
    if (!keys.empty()) keys.back() = value;
    return true;
  }
  bool end_object() override { return pop(); }
  bool start_array(std::size_t) override { return push(false); }
  bool end_array() override { return pop(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }
};

}  // namespace

std::optional<std::string> database_in_snapshot_prefix(std::string_view prefix) {
  DatabaseFinder finder;
  try {
    nlohmann::json::sax_parse(prefix.begin(), prefix.end(), &finder);
  } catch (...) {
    return std::nullopt;
  }
  return finder.found;
}

std::string temporary_file_name(std::string_view final_name) {
  return std::string(final_name) + ".tmp";
}

std::string format_archive_command(std::string_view command_template, std::string_view path,
                                   std::string_view file_name) {
  for (auto [what, value] : {std::pair{"path", path}, std::pair{"file name", file_name}})
    if (value.find('\0') != std::string_view::npos)
      throw Error(sqlstate::kInvalidParameterValue,
                  std::string("archive command ") + what + " contains a NUL byte");
  std::string out;
  for (size_t i = 0; i < command_template.size(); ++i) {
    char c = command_template[i];
    if (c != '%' || i + 1 == command_template.size()) {
      out += c;
      continue;
    }
    switch (command_template[i + 1]) {
      case 'p':
        append_shell_quoted(out, path);
        ++i;
        break;
      case 'f':
        append_shell_quoted(out, file_name);
        ++i;
        break;
      case '%':
        out += '%';
        ++i;
        break;
      default: out += c; break;  // left as is, like archive_command
    }
  }
  return out;
}

}  // namespace ptb::core
