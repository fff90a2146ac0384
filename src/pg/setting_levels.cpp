#include "pg/setting_levels.hpp"

#include "pg/guarded.hpp"

extern "C" {
#include "utils/guc.h"
}

namespace ptb::pg {

int set_setting(const char* name, const char* value) {
  int level = 0;
  guarded([&] {
    level = NewGUCNestLevel();
    (void)set_config_option(name, value, PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
  });
  return level;
}

int set_settings(std::initializer_list<std::pair<const char*, const char*>> settings) {
  int level = 0;
  guarded([&] {
    level = NewGUCNestLevel();
    for (const auto& [name, value] : settings)
      (void)set_config_option(name, value, PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
  });
  return level;
}

void undo_settings(int level) {
  guarded([&] { AtEOXact_GUC(true, level); });
}

std::string setting_value(const char* name) {
  std::string value;
  guarded([&] { value = GetConfigOption(name, false, false); });
  return value;
}

std::optional<std::string> defined_setting_value(const char* name) {
  const char* value = nullptr;
  guarded([&] { value = GetConfigOption(name, true, false); });
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

}  // namespace ptb::pg
