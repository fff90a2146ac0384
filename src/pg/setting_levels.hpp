// Settings the extension changes for its own statements, each at a nesting
// level of its own and put back to the caller's value afterwards, as a
// function's SET clause would (the caller's SET LOCAL survives).
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>

namespace ptb::pg {

// Sets `name` for the statements that follow; returns the level to hand to
// undo_settings. Set with superuser context, for every caller:
// session_replication_role needs it, and the import decides itself who may
// have it switched (docs/import.md, "Triggers"); the other settings set
// here are any user's to set.
int set_setting(const char* name, const char* value);
// Several settings at one level, in order; returns it for undo_settings.
int set_settings(std::initializer_list<std::pair<const char*, const char*>> settings);
// Puts back every setting made at `level` and the levels nested in it.
void undo_settings(int level);
// A setting's current value as SHOW prints it.
std::string setting_value(const char* name);
// The same for a setting an extension may not have defined: nullopt then.
std::optional<std::string> defined_setting_value(const char* name);

}  // namespace ptb::pg
