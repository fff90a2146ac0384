#include "core/storage_names.hpp"

#include <chrono>
#include <cstdio>

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

std::string snapshot_file_name(const std::optional<std::string>& tenant, int64_t id,
                               int64_t unix_seconds, Compression compression, bool encrypted) {
  if (id < 0)
    throw Error(sqlstate::kInvalidParameterValue,
                "snapshot id " + std::to_string(id) + " is negative");
  if (unix_seconds < 0 || unix_seconds > kLastSecond)
    throw Error(sqlstate::kInvalidParameterValue, "snapshot time " + std::to_string(unix_seconds) +
                                                      " is outside the years 1970 to 9999");
  std::string name = tenant ? "tenant-" + tenant_part(*tenant) : "database";
  name += '-';
  name += utc_timestamp(unix_seconds);
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
