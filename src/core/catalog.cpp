#include "core/catalog.hpp"

namespace ptb::core {

const Column* Table::find_column(std::string_view column) const {
  for (const auto& c : columns)
    if (c.name == column) return &c;
  return nullptr;
}

bool Catalog::is_mandatory(const ForeignKey& fk) const {
  const Table& from = tables[fk.from];
  for (const auto& name : fk.from_columns) {
    const Column* c = from.find_column(name);
    if (c == nullptr || !c->not_null) return false;
  }
  return true;
}

}  // namespace ptb::core
