// The text a tenant's lock is keyed on (docs/import.md#one-at-a-time).
#pragma once

#include <optional>
#include <string>

#include "core/options.hpp"

namespace ptb::pg {

// The tenant as its lock key hashes it. In column tenancy the tenant text
// is cast to the type of the tenant column and back to text, so every
// spelling of one value ('0B5F...' and '0b5f...' for a uuid, ' 42' and
// '042' for an integer) gives one key; a text that is not a value of that
// type is the type's own error (22P02 for most types). The type is the
// tenant column's in the tables of the scanned schemas (the most common
// one when tables disagree); without any such table the text is kept as
// given. In schema tenancy the tenant is a schema name, kept as given
// (schema names are compared exactly). nullopt (the whole database) stays
// nullopt. Needs SPI and the output settings fixed (fix_output_settings):
// the canonical text of some types depends on them.
std::optional<std::string> tenant_lock_key(const std::optional<std::string>& tenant,
                                           const core::SnapshotOptions& options);

}  // namespace ptb::pg
