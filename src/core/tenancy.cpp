#include "core/tenancy.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/graph.hpp"

namespace ptb::core {

std::string_view to_string(TableRole role) {
  switch (role) {
    case TableRole::Tenant: return "tenant";
    case TableRole::Child: return "child";
    case TableRole::Master: return "master";
  }
  return "unknown";
}

std::string_view to_string(Coverage coverage) {
  switch (coverage) {
    case Coverage::Tenant: return "tenant";
    case Coverage::Child: return "child";
    case Coverage::Master: return "master";
    case Coverage::Excluded: return "excluded";
    case Coverage::Global: return "global";
    case Coverage::Unplaced: return "unplaced";
  }
  return "unknown";
}

namespace {

bool listed(const std::vector<QualifiedName>& names, const Table& t) {
  return std::any_of(names.begin(), names.end(),
                     [&](const QualifiedName& n) { return n.matches(t.schema, t.name); });
}

std::string shown(const Table& t) { return display_qualified(t.schema, t.name); }

std::string shown(const Partition& p) { return display_qualified(p.schema, p.name); }

// {"option": ["schema.table"]} as the user would write it in opts.
std::string option_example(const std::string& option, const Table& t) {
  nlohmann::json doc = {{option, nlohmann::json::array({shown(t)})}};
  return doc.dump();
}

// A foreign key that partitions declare some of them but not all: which
// ones do (with the constraint names) and which do not.
struct PartialKey {
  ForeignKey key;  // from: the partitioned table; partition_constraints: the names
  std::vector<std::string> declared_by;
  std::vector<std::string> missing_from;
};

// Foreign keys declared on partitions rather than on their partitioned
// table. A key that every leaf partition declares alike (same referencing
// columns, same referenced table and columns; the names may differ) becomes
// a key of the partitioned table. A key some leaves declare and others do
// not is returned, unless owning_fks names it for that table: then it is
// the table's key too (the caller asked for it).
std::vector<PartialKey> resolve_partition_keys(Catalog& cat, const SnapshotOptions& opt) {
  using Signature = std::tuple<size_t, std::vector<std::string>, std::vector<std::string>>;
  std::vector<PartialKey> partial;
  for (size_t root = 0; root < cat.tables.size(); ++root) {
    if (!cat.tables[root].partitioned) continue;
    std::vector<const Partition*> leaves;
    for (const auto& p : cat.partitions)
      if (p.root == root && p.leaf) leaves.push_back(&p);
    if (leaves.empty()) continue;
    std::sort(leaves.begin(), leaves.end(), [](const Partition* a, const Partition* b) {
      return std::tie(a->schema, a->name) < std::tie(b->schema, b->name);
    });
    std::set<Signature> own;
    for (const auto& fk : cat.foreign_keys)
      if (fk.from == root) own.insert({fk.to, fk.from_columns, fk.to_columns});
    struct Seen {
      std::set<std::string> names;
      std::set<size_t> leaves;
    };
    std::map<Signature, Seen> seen;
    for (size_t l = 0; l < leaves.size(); ++l)
      for (const auto& fk : leaves[l]->foreign_keys) {
        Signature sig{fk.to, fk.from_columns, fk.to_columns};
        if (own.count(sig) != 0) continue;
        seen[sig].names.insert(fk.name);
        seen[sig].leaves.insert(l);
      }
    for (const auto& [sig, found] : seen) {
      ForeignKey key;
      key.from = root;
      key.to = std::get<0>(sig);
      key.from_columns = std::get<1>(sig);
      key.to_columns = std::get<2>(sig);
      key.partition_constraints.assign(found.names.begin(), found.names.end());
      key.name = key.partition_constraints.front();
      if (found.leaves.size() == leaves.size()) {
        cat.foreign_keys.push_back(std::move(key));
        continue;
      }
      std::optional<std::string> chosen;
      for (const auto& [table_name, constraint] : opt.owning_fks)
        if (table_name.matches(cat.tables[root].schema, cat.tables[root].name) &&
            found.names.count(constraint) != 0)
          chosen = constraint;
      if (chosen) {
        key.name = *chosen;
        cat.foreign_keys.push_back(std::move(key));
        continue;
      }
      PartialKey pk;
      pk.key = std::move(key);
      for (size_t l = 0; l < leaves.size(); ++l)
        (found.leaves.count(l) != 0 ? pk.declared_by : pk.missing_from).push_back(shown(*leaves[l]));
      partial.push_back(std::move(pk));
    }
  }
  return partial;
}

bool names_key(const ForeignKey& fk, const std::string& constraint) {
  return fk.name == constraint ||
         std::find(fk.partition_constraints.begin(), fk.partition_constraints.end(),
                   constraint) != fk.partition_constraints.end();
}

// A string literal for generated SQL ('it''s'; E'...' when it holds a
// backslash, so standard_conforming_strings does not matter).
std::string quote_literal(std::string_view text) {
  std::string out;
  bool backslash = false;
  for (char c : text) {
    if (c == '\'') out += "''";
    else if (c == '\\') {
      out += "\\\\";
      backslash = true;
    } else out += c;
  }
  return (backslash ? "E'" : "'") + out + "'";
}

bool integer_type(const std::string& type) {
  return type == "smallint" || type == "integer" || type == "bigint";
}

// The {"polymorphic": ...} option that would declare a table's link.
std::string polymorphic_example(const Table& t, const std::string& type_column,
                                const std::string& id_column) {
  nlohmann::json doc = {
      {"polymorphic", {{shown(t), {{"type", display_identifier(type_column)}, {"id", display_identifier(id_column)}}}}}};
  return doc.dump();
}

// The first (x_type, x_id) column pair of a table, the type column of a
// string type: the shape of a polymorphic reference.
std::optional<std::pair<std::string, std::string>> polymorphic_shape(const Table& t) {
  for (const auto& c : t.columns) {
    if (!c.is_text || c.name.size() <= 5 || c.name.compare(c.name.size() - 5, 5, "_type") != 0) continue;
    const std::string id = c.name.substr(0, c.name.size() - 5) + "_id";
    if (t.find_column(id) != nullptr) return std::make_pair(c.name, id);
  }
  return std::nullopt;
}

std::string describe_key(const Catalog& cat, const ForeignKey& fk) {
  return fk.name + " (" + join(fk.from_columns, ", ") + ") -> " + shown(cat.tables[fk.to]);
}

}  // namespace

std::string TenancyPlan::qualified(size_t table) const {
  const Table& t = catalog_.tables[table];
  return quote_qualified(t.schema, t.name);
}

TenancyPlan TenancyPlan::reading_from(std::vector<std::pair<size_t, std::string>> relations) const {
  TenancyPlan copy = *this;
  copy.relations_ = std::move(relations);
  return copy;
}

std::string TenancyPlan::from_clause(size_t table, std::string_view alias) const {
  for (const auto& [index, relation] : relations_)
    if (index == table) return relation + " " + std::string(alias);
  // ONLY keeps rows of inheritance children from being read twice; a
  // partitioned parent is read whole because its partitions are not listed.
  std::string only = catalog_.tables[table].partitioned ? "" : "ONLY ";
  return only + qualified(table) + " " + std::string(alias);
}

TenancyPlan TenancyPlan::build(Catalog catalog, SnapshotOptions options,
                               bool one_tenant_by_column) {
  TenancyPlan plan;
  plan.catalog_ = std::move(catalog);
  plan.options_ = std::move(options);
  plan.by_column_ = one_tenant_by_column && plan.options_.tenancy == TenancyMode::Column;
  const std::vector<PartialKey> partial_keys = resolve_partition_keys(plan.catalog_, plan.options_);
  const Catalog& cat = plan.catalog_;
  const SnapshotOptions& opt = plan.options_;
  const size_t n = cat.tables.size();
  auto& member = plan.membership_;
  member.assign(n, {});

  auto name_of = [&](size_t i) { return std::tie(cat.tables[i].schema, cat.tables[i].name); };

  // 1. Tenant tables.
  if (plan.by_column_) {
    for (size_t i = 0; i < n; ++i) {
      const Table& t = cat.tables[i];
      if (t.in_scanned_schema && t.find_column(opt.tenant_column) != nullptr) {
        member[i].role = TableRole::Tenant;
        member[i].tenant_key_column = opt.tenant_column;
      }
    }
    if (std::none_of(member.begin(), member.end(), [](const Membership& m) { return m.role; })) {
      throw Error(sqlstate::kUndefinedTable,
                  "no table in the scanned schemas (" + join(opt.schemas, ", ") +
                      ") has the tenant column \"" + opt.tenant_column + "\"",
                  {},
                  "Set pg_tenant_backup.tenant_column and pg_tenant_backup.schemas, "
                  "or pass tenant_column and schemas in opts.");
    }
    // The tenant table: the table most tenant columns reference.
    std::map<std::pair<size_t, std::string>, int> references;
    for (const auto& fk : cat.foreign_keys) {
      if (member[fk.from].role && fk.from_columns.size() == 1 &&
          fk.from_columns[0] == opt.tenant_column && fk.to != fk.from)
        ++references[{fk.to, fk.to_columns[0]}];
    }
    const std::pair<size_t, std::string>* best = nullptr;
    int best_count = 0;
    for (const auto& [key, count] : references) {
      if (best == nullptr || count > best_count ||
          (count == best_count && name_of(key.first) < name_of(best->first))) {
        best = &key;
        best_count = count;
      }
    }
    if (best != nullptr) {
      TenantTable tt;
      tt.table = best->first;
      tt.key_column = best->second;
      const Table& t = cat.tables[tt.table];
      if (t.find_column("name") != nullptr) {
        tt.name_column = "name";
      } else {
        for (const auto& c : t.columns)
          if (c.is_text) {
            tt.name_column = c.name;
            break;
          }
      }
      if (!member[tt.table].role) {
        member[tt.table].role = TableRole::Tenant;
        member[tt.table].tenant_key_column = tt.key_column;
      }
      plan.tenant_table_ = tt;
    }
  } else {
    for (size_t i = 0; i < n; ++i)
      if (cat.tables[i].in_scanned_schema) member[i].role = TableRole::Tenant;
  }

  // 1b. Tables declared in the polymorphic option: children whose rows are
  // selected by their (type, id) columns (resolved in step 3b).
  auto find_table = [&](const QualifiedName& wanted) -> std::optional<size_t> {
    std::optional<size_t> found;
    for (size_t i = 0; i < n; ++i)
      if (wanted.matches(cat.tables[i].schema, cat.tables[i].name) &&
          (!found || (cat.tables[i].in_scanned_schema && !cat.tables[*found].in_scanned_schema)))
        found = i;
    return found;
  };
  if (plan.by_column_) {
    for (const auto& [table_name, link] : opt.polymorphic) {
      const std::string entry = "polymorphic names \"" + table_name.to_string() + "\"";
      const auto table = find_table(table_name);
      if (!table || !cat.tables[*table].in_scanned_schema)
        throw Error(sqlstate::kInvalidParameterValue,
                    entry + ", which is not a table of the scanned schemas (" + join(opt.schemas, ", ") + ")",
                    {}, "Name a table of schemas, or add its schema to schemas; backup_coverage lists the tables.");
      const Table& t = cat.tables[*table];
      if (member[*table].role)
        throw Error(sqlstate::kInvalidParameterValue,
                    entry + ", which has the tenant column " + display_identifier(opt.tenant_column) +
                        ": its rows are selected by it",
                    {}, "Remove " + shown(t) + " from polymorphic.");
      for (const std::string* column : {&link.type_column, &link.id_column})
        if (t.find_column(*column) == nullptr)
          throw Error(sqlstate::kInvalidParameterValue,
                      entry + ", which has no column " + display_identifier(*column),
                      {}, "Give the table's type column as \"type\" and its id column as \"id\": " +
                              polymorphic_example(t, "record_type", "record_id") + ".");
      PolymorphicPlacement placement;
      placement.table = *table;
      placement.type_column = link.type_column;
      placement.id_column = link.id_column;
      member[*table].role = TableRole::Child;
      member[*table].polymorphic = plan.polymorphic_.size();
      plan.polymorphic_.push_back(std::move(placement));
    }
  }

  // 2. Child tables: tables of the scanned schemas that reach a tenant
  // table through foreign keys. Each gets one owning chain: the one with the
  // fewest nullable keys (a NOT NULL chain reaches every row), then the
  // fewest hops, then the smallest constraint name at each step. Costs only
  // go down while iterating and every chain is shorter than its table's, so
  // this settles and never makes a loop.
  if (plan.by_column_) {
    struct Best {
      size_t nullable_keys;
      size_t hops;
      size_t fk;
    };
    std::vector<std::optional<Best>> best(n);
    auto cost_through = [&](size_t f) -> std::optional<std::pair<size_t, size_t>> {
      const ForeignKey& fk = cat.foreign_keys[f];
      size_t extra = cat.is_mandatory(fk) ? 0 : 1;
      if (member[fk.to].role == TableRole::Tenant || member[fk.to].polymorphic ||
          !member[fk.to].following_fks.empty())
        return std::make_pair(extra, size_t{1});
      if (!best[fk.to]) return std::nullopt;
      return std::make_pair(best[fk.to]->nullable_keys + extra, best[fk.to]->hops + 1);
    };
    auto settle = [&]() {
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t f = 0; f < cat.foreign_keys.size(); ++f) {
        const ForeignKey& fk = cat.foreign_keys[f];
        if (fk.from == fk.to || member[fk.from].role || !cat.tables[fk.from].in_scanned_schema)
          continue;
        auto cost = cost_through(f);
        if (!cost) continue;
        auto& cur = best[fk.from];
        auto key = std::make_tuple(cost->first, cost->second, fk.name, name_of(fk.to));
        if (!cur || key < std::make_tuple(cur->nullable_keys, cur->hops,
                                          cat.foreign_keys[cur->fk].name,
                                          name_of(cat.foreign_keys[cur->fk].to))) {
          cur = Best{cost->first, cost->second, f};
          changed = true;
        }
      }
    }
    };
    settle();
    // Tables a polymorphic table references by foreign key (blobs of
    // attachments) and that have no place of their own: their rows follow
    // the polymorphic rows that reference them (all such tables, or those
    // the link's follow names). Tables referencing them then become their
    // children (variant records of blobs).
    bool followed_any = false;
    for (const auto& [table_name, link] : opt.polymorphic) {
      const auto p_table = find_table(table_name);
      if (!p_table) continue;
      if (link.follow)
        for (const auto& wanted : *link.follow) {
          const bool referenced = std::any_of(cat.foreign_keys.begin(), cat.foreign_keys.end(), [&](const ForeignKey& fk) {
            return fk.from == *p_table && fk.to != *p_table && wanted.matches(cat.tables[fk.to].schema, cat.tables[fk.to].name);
          });
          if (!referenced)
            throw Error(sqlstate::kInvalidParameterValue,
                        "polymorphic follow of \"" + table_name.to_string() + "\" names \"" + wanted.to_string() +
                            "\", which " + shown(cat.tables[*p_table]) + " does not reference by a foreign key",
                        {}, "follow lists tables that the polymorphic table references (its blobs, ...).");
        }
      for (size_t f = 0; f < cat.foreign_keys.size(); ++f) {
        const ForeignKey& fk = cat.foreign_keys[f];
        if (fk.from != *p_table || fk.to == *p_table || member[fk.to].role || best[fk.to] ||
            !cat.tables[fk.to].in_scanned_schema)
          continue;
        if (link.follow && !listed(*link.follow, cat.tables[fk.to])) continue;
        // Rows that other tenant or child rows reference too are shared
        // (master data), unless follow names the table.
        const bool shared = std::any_of(cat.foreign_keys.begin(), cat.foreign_keys.end(), [&](const ForeignKey& other) {
          return other.to == fk.to && other.from != fk.to && (member[other.from].role || best[other.from]) &&
                 !member[other.from].polymorphic;
        });
        if (shared && !link.follow) continue;
        member[fk.to].following_fks.push_back(f);
        followed_any = true;
      }
    }
    for (size_t i = 0; i < n; ++i)
      if (!member[i].following_fks.empty()) member[i].role = TableRole::Child;
    if (followed_any) settle();
    for (size_t i = 0; i < n; ++i) {
      if (!best[i]) continue;
      member[i].role = TableRole::Child;
      member[i].owning_fk = best[i]->fk;
    }

    // Overrides of the owning key.
    for (const auto& [table_name, constraint] : opt.owning_fks) {
      std::optional<size_t> table;
      for (size_t i = 0; i < n; ++i)
        if (table_name.matches(cat.tables[i].schema, cat.tables[i].name) &&
            (!table || member[i].role == TableRole::Child))
          table = i;
      if (!table || member[*table].role != TableRole::Child)
        throw Error(sqlstate::kInvalidParameterValue,
                    "owning_fks names \"" + table_name.to_string() +
                        "\", which is not a child table of the tenant",
                    {}, "Only tables reached through foreign keys can have an owning key.");
      if (!member[*table].owning_fk)
        throw Error(sqlstate::kInvalidParameterValue,
                    "owning_fks names \"" + table_name.to_string() +
                        "\", whose rows are placed through a polymorphic reference",
                    {}, "Remove it from owning_fks (or from polymorphic).");
      std::optional<size_t> fk_index;
      for (size_t f = 0; f < cat.foreign_keys.size(); ++f)
        if (cat.foreign_keys[f].from == *table && names_key(cat.foreign_keys[f], constraint))
          fk_index = f;
      if (!fk_index)
        throw Error(sqlstate::kUndefinedObject,
                    "table \"" + table_name.to_string() + "\" has no foreign key \"" +
                        constraint + "\"");
      const ForeignKey& fk = cat.foreign_keys[*fk_index];
      if (!member[fk.to].role || member[fk.to].role == TableRole::Master || fk.to == *table)
        throw Error(sqlstate::kInvalidParameterValue,
                    "foreign key \"" + constraint + "\" of \"" + table_name.to_string() +
                        "\" does not point at a tenant or child table");
      member[*table].owning_fk = *fk_index;
    }
    // An override can close a loop of owners; every chain must end at a
    // tenant table.
    for (size_t i = 0; i < n; ++i) {
      size_t steps = 0;
      for (size_t cur = i; member[cur].owning_fk;
           cur = cat.foreign_keys[*member[cur].owning_fk].to) {
        if (++steps > n)
          throw Error(sqlstate::kInvalidParameterValue,
                      "owning_fks makes a loop of owners through \"" + cat.tables[i].name + "\"",
                      {}, "Every chain of owning keys must end at a table with the tenant column.");
      }
    }
  }

  // 3. Master data: tables the snapshot's rows reference, transitively
  // (vehicles -> models -> oems). A master table's rows are those some
  // placed row references; a key that would make a master table's selection
  // depend on itself (a cycle among master tables) is left out.
  std::vector<size_t> discovery(n, 0);  // layer in which a master was found
  {
    std::vector<size_t> frontier;
    for (size_t i = 0; i < n; ++i)
      if (member[i].role) frontier.push_back(i);
    for (size_t layer = 1; !frontier.empty(); ++layer) {
      std::vector<size_t> next;
      for (const auto& fk : cat.foreign_keys) {
        if (member[fk.to].role) continue;
        if (std::find(frontier.begin(), frontier.end(), fk.from) == frontier.end()) continue;
        member[fk.to].role = TableRole::Master;
        discovery[fk.to] = layer;
        next.push_back(fk.to);
      }
      frontier = std::move(next);
    }
  }
  {
    std::vector<size_t> candidates;
    for (size_t f = 0; f < cat.foreign_keys.size(); ++f) {
      const ForeignKey& fk = cat.foreign_keys[f];
      if (fk.from != fk.to && member[fk.to].role == TableRole::Master && member[fk.from].role)
        candidates.push_back(f);
    }
    std::sort(candidates.begin(), candidates.end(), [&](size_t a, size_t b) {
      const ForeignKey& x = cat.foreign_keys[a];
      const ForeignKey& y = cat.foreign_keys[b];
      return std::make_tuple(discovery[x.from], name_of(x.from), x.name) <
             std::make_tuple(discovery[y.from], name_of(y.from), y.name);
    });
    // Does the selection of `from` (transitively) depend on `target`?
    auto depends_on = [&](size_t from, size_t target) {
      std::vector<size_t> stack{from};
      std::vector<bool> seen(n, false);
      while (!stack.empty()) {
        size_t cur = stack.back();
        stack.pop_back();
        if (cur == target) return true;
        if (seen[cur]) continue;
        seen[cur] = true;
        for (size_t f : member[cur].referencing_fks) stack.push_back(cat.foreign_keys[f].from);
      }
      return false;
    };
    for (size_t f : candidates) {
      const ForeignKey& fk = cat.foreign_keys[f];
      if (member[fk.from].role == TableRole::Master && depends_on(fk.from, fk.to)) continue;
      member[fk.to].referencing_fks.push_back(f);
    }
  }

  // 3b. The targets of each polymorphic table: tables of the tenant (tenant
  // or child tables whose rows are not themselves placed through a
  // polymorphic reference) with a one-column primary key, and the type
  // values naming each, by the default rule and the link's types.
  if (!plan.polymorphic_.empty()) {
    auto through_polymorphic = [&](size_t i) {
      for (size_t cur = i, steps = 0; steps <= n; ++steps) {
        if (member[cur].polymorphic || !member[cur].following_fks.empty()) return true;
        if (!member[cur].owning_fk) return false;
        cur = cat.foreign_keys[*member[cur].owning_fk].to;
      }
      return true;
    };
    auto can_target = [&](size_t i) {
      return (member[i].role == TableRole::Tenant || member[i].role == TableRole::Child) &&
             !through_polymorphic(i) && cat.tables[i].primary_key.size() == 1;
    };
    for (auto& placement : plan.polymorphic_) {
      const Table& p_table = cat.tables[placement.table];
      const PolymorphicLink* link = nullptr;
      for (const auto& [table_name, l] : opt.polymorphic)
        if (find_table(table_name) == placement.table) link = &l;
      std::map<size_t, std::set<std::string>> values;
      for (const auto& [value, target_name] : link->types) {
        const std::string entry = "polymorphic types of \"" + shown(p_table) + "\" map \"" + value +
                                  "\" to \"" + target_name.to_string() + "\"";
        const auto target = find_table(target_name);
        if (!target)
          throw Error(sqlstate::kInvalidParameterValue, entry + ", which does not exist", {},
                      "Map type values to tables of the tenant; backup_coverage lists them.");
        if (!can_target(*target))
          throw Error(sqlstate::kInvalidParameterValue,
                      entry + ", which is not a table of the snapshot that a polymorphic reference can point at",
                      "The table must be a tenant or child table of the snapshot (not master data, not itself "
                      "placed through a polymorphic reference) with a one-column primary key.",
                      "Map type values to tables of the tenant; backup_coverage lists them with their roles.");
        values[*target].insert(value);
      }
      for (size_t i = 0; i < n; ++i) {
        if (!can_target(i) || !cat.tables[i].in_scanned_schema) continue;
        for (auto& value : type_values_for_table(cat.tables[i].schema, cat.tables[i].name))
          if (link->types.count(value) == 0) values[i].insert(std::move(value));
      }
      for (auto& [table, names] : values)
        placement.targets.push_back({table, std::vector<std::string>(names.begin(), names.end())});
      std::sort(placement.targets.begin(), placement.targets.end(),
                [&](const PolymorphicTarget& a, const PolymorphicTarget& b) {
                  return name_of(a.table) < name_of(b.table);
                });
    }
  }

  // 4. Tables without a role that may hold the tenant's rows: they have the
  // tenant column or reference tenant or child rows from outside the
  // scanned schemas, inherit from a tenant or child table without its keys,
  // or have a key to one on some of their partitions only. Nothing selects
  // their rows, so the snapshot cannot hold them: require_complete refuses
  // unless an option leaves them out. (In a whole-database snapshot they
  // are global: it holds the scanned schemas whole.)
  struct Unplaced {
    std::string reason;
    std::string hint;
  };
  std::vector<std::optional<Unplaced>> unplaced(n);
  auto holds_tenant_rows = [&](size_t t) {
    return member[t].role == TableRole::Tenant || member[t].role == TableRole::Child;
  };
  for (size_t i = 0; i < n; ++i) {
    if (member[i].role) continue;
    const Table& t = cat.tables[i];
    const std::string outside = t.in_scanned_schema
                                    ? std::string()
                                    : ", but its schema " + display_identifier(t.schema) +
                                          " is not in schemas";
    const std::string schema_hint = "Add schema " + display_identifier(t.schema) +
                                    " to schemas, or leave the table out with " +
                                    option_example("exclude_tables", t) + ".";
    if (plan.by_column_ && !t.in_scanned_schema && t.find_column(opt.tenant_column) != nullptr) {
      // Unless its tenant column is a key to another table than the tenant
      // table: tenants of another application (a schema of its own).
      const ForeignKey* elsewhere = nullptr;
      for (const auto& fk : cat.foreign_keys)
        if (fk.from == i && fk.from_columns == std::vector<std::string>{opt.tenant_column} &&
            (!plan.tenant_table_ || fk.to != plan.tenant_table_->table))
          elsewhere = &fk;
      if (elsewhere == nullptr) {
        unplaced[i] = Unplaced{"has the tenant column " + display_identifier(opt.tenant_column) + outside,
                               schema_hint};
        continue;
      }
    }
    const ForeignKey* reference = nullptr;
    for (const auto& fk : cat.foreign_keys)
      if (fk.from == i && fk.to != i && holds_tenant_rows(fk.to) &&
          (reference == nullptr || fk.name < reference->name))
        reference = &fk;
    if (reference != nullptr) {
      unplaced[i] = Unplaced{"references rows of the snapshot through its foreign key " +
                                 describe_key(cat, *reference) + outside,
                             schema_hint};
      continue;
    }
    for (const auto& pk : partial_keys) {
      if (pk.key.from != i || !holds_tenant_rows(pk.key.to)) continue;
      nlohmann::json owning = {{"owning_fks", {{shown(t), pk.key.name}}}};
      unplaced[i] = Unplaced{
          "has the foreign key " + describe_key(cat, pk.key) + " on some of its partitions only (on " +
              join(pk.declared_by, ", ") + "; not on " + join(pk.missing_from, ", ") + ")",
          "Declare the key on " + shown(t) + " or on every partition, choose it with " +
              owning.dump() + ", or leave the table out with " +
              option_example("exclude_tables", t) + "."};
      break;
    }
    if (unplaced[i]) continue;
    for (size_t parent : t.inherits) {
      if (!holds_tenant_rows(parent)) continue;
      unplaced[i] = Unplaced{"inherits from " + shown(cat.tables[parent]) +
                                 ", whose rows belong to the tenant, but has no foreign key to a "
                                 "tenant or child table (foreign keys are not inherited)",
                             "Declare the foreign keys of " + shown(cat.tables[parent]) +
                                 " on it too, or leave the table out with " +
                                 option_example("exclude_tables", t) + "."};
      break;
    }
  }

  // 5. Which tables the snapshot lists, in dependency order.
  auto exclusion = [&](size_t i) -> std::string {
    const Table& t = cat.tables[i];
    if (listed(opt.audit_tables, t)) {
      if (!opt.include_audit_logs)
        return "an audit table (audit_tables), left out unless include_audit_logs is true";
    } else if (listed(opt.exclude_tables, t)) {
      return "left out by exclude_tables";
    }
    if (opt.tables && !listed(*opt.tables, t)) return "not named in tables";
    return {};
  };
  std::vector<size_t> selected;
  for (size_t i = 0; i < n; ++i)
    if (member[i].role && exclusion(i).empty()) selected.push_back(i);
  if (opt.tables) {
    for (const auto& wanted : *opt.tables) {
      bool found = std::any_of(selected.begin(), selected.end(), [&](size_t i) {
        return wanted.matches(cat.tables[i].schema, cat.tables[i].name);
      });
      if (!found)
        throw Error(sqlstate::kUndefinedTable,
                    "table \"" + wanted.to_string() + "\" is not part of the snapshot",
                    {}, "Run backup_stats to list the tables a snapshot contains.");
    }
  }
  std::vector<size_t> position(n, 0);
  for (size_t k = 0; k < selected.size(); ++k) position[selected[k]] = k;
  std::vector<Edge> edges;
  for (const auto& fk : cat.foreign_keys) {
    bool from_in = std::find(selected.begin(), selected.end(), fk.from) != selected.end();
    bool to_in = std::find(selected.begin(), selected.end(), fk.to) != selected.end();
    if (from_in && to_in) edges.push_back({position[fk.from], position[fk.to]});
  }
  auto order = dependency_order(selected.size(), edges, [&](size_t a, size_t b) {
    return name_of(selected[a]) < name_of(selected[b]);
  });
  for (size_t k : order) {
    size_t i = selected[k];
    PlannedTable p;
    p.table = i;
    p.role = *member[i].role;
    for (size_t cur = i; member[cur].owning_fk;
         cur = cat.foreign_keys[*member[cur].owning_fk].to)
      p.owning_chain.push_back(*member[cur].owning_fk);
    plan.tables_.push_back(std::move(p));
  }

  // 6. Coverage: every table and partition, with its place and why.
  auto role_reason = [&](size_t i) -> std::string {
    const Table& t = cat.tables[i];
    const Membership& m = member[i];
    std::string reason;
    if (m.role == TableRole::Tenant) {
      if (!plan.by_column_) {
        reason = opt.tenancy == TenancyMode::Schema && one_tenant_by_column
                     ? "in the tenant's schema"
                     : "in a scanned schema (a whole-database snapshot)";
      } else if (plan.tenant_table_ && plan.tenant_table_->table == i &&
                 t.find_column(opt.tenant_column) == nullptr) {
        reason = "the tenant table: its column " + display_identifier(plan.tenant_table_->key_column) +
                 " is the tenant id";
      } else {
        reason = "has the tenant column " + display_identifier(opt.tenant_column);
        if (plan.tenant_table_ && plan.tenant_table_->table != i &&
            std::none_of(cat.foreign_keys.begin(), cat.foreign_keys.end(), [&](const ForeignKey& fk) {
              return fk.from == i && fk.to == plan.tenant_table_->table &&
                     fk.from_columns == std::vector<std::string>{opt.tenant_column};
            }))
          reason += " (without a foreign key to " + shown(cat.tables[plan.tenant_table_->table]) +
                    ": its rows are selected by the column's value)";
      }
    } else if (m.polymorphic) {
      const PolymorphicPlacement& pp = plan.polymorphic_[*m.polymorphic];
      reason = "placed through its polymorphic reference (" + display_identifier(pp.type_column) + ", " +
               display_identifier(pp.id_column) + ")";
      std::vector<std::string> targets;
      for (const auto& target : pp.targets) targets.push_back(shown(cat.tables[target.table]));
      reason += targets.empty() ? ": no table of the tenant can be its target"
                                : " to " + join(targets, ", ");
    } else if (!m.following_fks.empty()) {
      const ForeignKey& fk = cat.foreign_keys[m.following_fks.front()];
      reason = "referenced by " + shown(cat.tables[fk.from]) + " through " + fk.name +
               ": its rows follow that table's polymorphic rows";
    } else if (m.role == TableRole::Child) {
      const ForeignKey& fk = cat.foreign_keys[*m.owning_fk];
      reason = "owned through " + fk.name + " -> " + shown(cat.tables[fk.to]);
      if (fk.declared_on_partitions()) reason += " (a key declared on each partition)";
    } else {
      if (m.referencing_fks.empty()) {
        reason = "referenced by the snapshot's rows";
      } else {
        const ForeignKey& fk = cat.foreign_keys[m.referencing_fks.front()];
        reason = "referenced by " + shown(cat.tables[fk.from]) + " through " + fk.name;
      }
    }
    std::vector<std::string> objects;
    for (const auto& c : t.columns)
      if (c.large_object) objects.push_back(display_identifier(c.name));
    if (!objects.empty())
      reason += "; " + std::string(objects.size() == 1 ? "column " : "columns ") +
                join(objects, ", ") +
                " may hold large object ids: large objects are not in the snapshot";
    return reason;
  };
  for (size_t i = 0; i < n; ++i) {
    const Table& t = cat.tables[i];
    TableCoverage c;
    c.schema = t.schema;
    c.name = t.name;
    c.table = i;
    const std::string excluded = exclusion(i);
    if (member[i].role) {
      if (excluded.empty()) {
        c.coverage = *member[i].role == TableRole::Tenant  ? Coverage::Tenant
                     : *member[i].role == TableRole::Child ? Coverage::Child
                                                           : Coverage::Master;
        c.reason = role_reason(i);
      } else {
        c.coverage = Coverage::Excluded;
        c.reason = excluded + " (otherwise " + std::string(to_string(*member[i].role)) + ")";
      }
    } else if (unplaced[i] && !one_tenant_by_column) {
      // A whole-database snapshot holds every row of the scanned schemas;
      // what lies outside them is outside by choice.
      c.coverage = Coverage::Global;
      c.reason = unplaced[i]->reason;
    } else if (unplaced[i]) {
      if (excluded.empty()) {
        c.coverage = Coverage::Unplaced;
        c.reason = unplaced[i]->reason;
        c.hint = unplaced[i]->hint;
      } else {
        c.coverage = Coverage::Excluded;
        c.reason = excluded + " (otherwise unplaced: it " + unplaced[i]->reason + ")";
      }
    } else if (auto probable = plan.by_column_ && t.in_scanned_schema ? polymorphic_shape(t) : std::nullopt) {
      // A (something_type, something_id) pair without a foreign key: an
      // undeclared polymorphic reference (attachments, versions) is the
      // tenant's data that no key leads to. Reported, not refused: it may
      // be global data.
      const std::string example = polymorphic_example(t, probable->first, probable->second);
      c.hint = "Declare it with " + example + ", or leave it out with " +
               option_example("exclude_tables", t) + ".";
      if (!excluded.empty()) {
        c.coverage = Coverage::Excluded;
        c.reason = excluded + " (otherwise probably tenant data through a polymorphic reference)";
      } else {
        c.coverage = Coverage::Global;
        c.reason = "probably tenant data, not included: its columns " + display_identifier(probable->first) +
                   " and " + display_identifier(probable->second) +
                   " look like a polymorphic reference (a type and an id, no foreign key); declare it in "
                   "polymorphic: " + example;
      }
    } else {
      c.coverage = Coverage::Global;
      const ForeignKey* other_tenants = nullptr;
      if (plan.by_column_ && t.find_column(opt.tenant_column) != nullptr)
        for (const auto& fk : cat.foreign_keys)
          if (fk.from == i && fk.from_columns == std::vector<std::string>{opt.tenant_column})
            other_tenants = &fk;
      if (other_tenants != nullptr)
        c.reason = "schema " + display_identifier(t.schema) + " is not in schemas, and its tenant column " +
                   display_identifier(opt.tenant_column) + " references " +
                   shown(cat.tables[other_tenants->to]) + ", not the tenant table";
      else
        c.reason = t.in_scanned_schema
                     ? "no tenant column and no foreign key path to a tenant table"
                     : "schema " + display_identifier(t.schema) +
                           " is not in schemas, and no row of the snapshot references it";
    }
    plan.coverage_.push_back(std::move(c));
  }
  for (const auto& p : cat.partitions) {
    TableCoverage c;
    c.schema = p.schema;
    c.name = p.name;
    c.coverage = plan.coverage_[p.root].coverage;
    c.reason = "a partition of " + shown(cat.tables[p.root]) + ": its rows are read through it";
    plan.coverage_.push_back(std::move(c));
  }
  std::sort(plan.coverage_.begin(), plan.coverage_.end(),
            [](const TableCoverage& a, const TableCoverage& b) {
              return std::tie(a.schema, a.name) < std::tie(b.schema, b.name);
            });
  return plan;
}

void TenancyPlan::require_complete() const {
  std::vector<const TableCoverage*> refused;
  for (const auto& c : coverage_)
    if (c.table && c.coverage == Coverage::Unplaced) refused.push_back(&c);
  if (refused.empty()) return;
  const TableCoverage& first = *refused.front();
  std::string detail = "It " + first.reason + ".";
  if (refused.size() > 1) {
    std::vector<std::string> others;
    for (size_t k = 1; k < refused.size() && k <= 5; ++k)
      others.push_back(display_qualified(refused[k]->schema, refused[k]->name));
    if (refused.size() > 6) others.push_back("...");
    detail += " " + std::to_string(refused.size() - 1) + " other table" +
              (refused.size() == 2 ? " cannot" : "s cannot") + " be placed either (" +
              join(others, ", ") + "); backup_coverage lists them with their reasons.";
  }
  throw Error(sqlstate::kObjectNotInPrerequisiteState,
              "table \"" + display_qualified(first.schema, first.name) +
                  "\" may hold rows of the snapshot but cannot be placed in it",
              detail, first.hint);
}

std::vector<LargeObjectColumn> TenancyPlan::large_object_columns() const {
  std::vector<LargeObjectColumn> out;
  for (const auto& p : tables_)
    for (const auto& c : catalog_.tables[p.table].columns)
      if (c.large_object) out.push_back({p.table, c.name});
  return out;
}

std::string TenancyPlan::exists_member_row(const ForeignKey& fk, bool referencing_side,
                                           std::string_view alias, int& next_alias) const {
  const size_t other = referencing_side ? fk.from : fk.to;
  const auto& other_columns = referencing_side ? fk.from_columns : fk.to_columns;
  const auto& own_columns = referencing_side ? fk.to_columns : fk.from_columns;
  std::string sub = "a" + std::to_string(next_alias++);
  std::vector<std::string> on;
  for (size_t c = 0; c < other_columns.size(); ++c)
    on.push_back(sub + "." + quote_ident(other_columns[c]) + " = " + std::string(alias) + "." +
                 quote_ident(own_columns[c]));
  on.push_back(render_membership(other, sub, next_alias));
  return "EXISTS (SELECT 1 FROM " + from_clause(other, sub) + " WHERE " + join(on, " AND ") +
         ")";
}

std::string TenancyPlan::render_membership(size_t table, std::string_view alias,
                                           int& next_alias) const {
  const Membership& m = membership_[table];
  const Table& t = catalog_.tables[table];
  const std::string a(alias);
  std::vector<std::string> terms;

  if (m.role == TableRole::Master) {
    std::vector<std::string> any;
    for (size_t f : m.referencing_fks)
      any.push_back(exists_member_row(catalog_.foreign_keys[f], true, a, next_alias));
    return any.size() == 1 ? any[0] : "(" + join(any, " OR ") + ")";
  }

  // Tenant and child rows: soft-deleted rows are out unless asked for, and
  // so are the children of a soft-deleted row.
  if (!options_.include_deleted && !options_.soft_delete_column.empty() &&
      t.find_column(options_.soft_delete_column) != nullptr)
    terms.push_back(a + "." + quote_ident(options_.soft_delete_column) + " IS NULL");

  if (m.role == TableRole::Tenant && by_column_) {
    const Column* key = t.find_column(m.tenant_key_column);
    terms.push_back(a + "." + quote_ident(m.tenant_key_column) + " = CAST($1 AS " +
                    key->type + ")");
  } else if (m.polymorphic) {
    const PolymorphicPlacement& pp = polymorphic_[*m.polymorphic];
    const Column* id = t.find_column(pp.id_column);
    std::vector<std::string> any;
    for (const auto& target : pp.targets) {
      const Table& tt = catalog_.tables[target.table];
      const std::string& pk = tt.primary_key.front();
      const Column* key = tt.find_column(pk);
      std::string sub = "a" + std::to_string(next_alias++);
      // The ids of the target's rows of the snapshot, in one subquery that
      // does not depend on the row (planned once, hashed): the same
      // integer, uuid or text types compare as they are; other pairs (a
      // text id against a bigint or uuid key) through their text form,
      // which never fails to cast.
      const bool direct = (integer_type(key->type) && integer_type(id->type)) ||
                          (key->type == id->type && (key->type == "uuid" || key->type == "text"));
      auto as_compared = [&](const std::string& expr) {
        return direct ? expr : "CAST(" + expr + " AS pg_catalog.text)";
      };
      std::vector<std::string> literals;
      for (const auto& v : target.values) literals.push_back(quote_literal(v));
      any.push_back("(CAST(" + a + "." + quote_ident(pp.type_column) +
                    " AS pg_catalog.text) OPERATOR(pg_catalog.=) ANY (CAST(ARRAY[" + join(literals, ", ") +
                    "] AS pg_catalog.text[])) AND " + as_compared(a + "." + quote_ident(pp.id_column)) +
                    " OPERATOR(pg_catalog.=) ANY (SELECT " + as_compared(sub + "." + quote_ident(pk)) + " FROM " +
                    from_clause(target.table, sub) + " WHERE " + render_membership(target.table, sub, next_alias) +
                    "))");
    }
    // NULL (a NULL type or id) counts as not the tenant's.
    terms.push_back(any.empty() ? "false" : "COALESCE(" + join(any, " OR ") + ", false)");
  } else if (!m.following_fks.empty()) {
    std::vector<std::string> any;
    for (size_t f : m.following_fks)
      any.push_back(exists_member_row(catalog_.foreign_keys[f], true, a, next_alias));
    terms.push_back(any.size() == 1 ? any[0] : "(" + join(any, " OR ") + ")");
  } else if (m.role == TableRole::Child) {
    terms.push_back(
        exists_member_row(catalog_.foreign_keys[*m.owning_fk], false, a, next_alias));
  }
  return terms.empty() ? "true" : join(terms, " AND ");
}

std::string TenancyPlan::membership_sql(size_t table, std::string_view alias) const {
  int next_alias = 1;
  return render_membership(table, alias, next_alias);
}

bool TenancyPlan::membership_reads_only_the_row(size_t table) const {
  // render_membership: a soft-delete test and the tenant column against $1.
  return membership_[table].role == TableRole::Tenant && by_column_;
}

std::optional<std::vector<size_t>> TenancyPlan::membership_chain(size_t table) const {
  if (!by_column_) return std::nullopt;
  std::vector<size_t> chain;
  for (size_t at = table, depth = 0;; ++depth) {
    const Membership& m = membership_[at];
    if (depth > 0 && !options_.include_deleted && !options_.soft_delete_column.empty() &&
        catalog_.tables[at].find_column(options_.soft_delete_column) != nullptr)
      return std::nullopt;
    if (m.role == TableRole::Tenant) return chain;
    if (m.role != TableRole::Child || m.polymorphic || !m.following_fks.empty() || !m.owning_fk) return std::nullopt;
    // A cycle of owning keys never ends at a tenant table.
    if (depth > catalog_.tables.size()) return std::nullopt;
    chain.push_back(*m.owning_fk);
    at = catalog_.foreign_keys[*m.owning_fk].to;
  }
}

std::string TenancyPlan::any_member_row_sql(size_t table) const {
  const auto chain = membership_chain(table);
  if (!chain || chain->empty()) return {};
  std::string sql = "SELECT 1 FROM " + from_clause(table, "t0");
  std::vector<std::string> where;
  const Table& own = catalog_.tables[table];
  if (!options_.include_deleted && !options_.soft_delete_column.empty() &&
      own.find_column(options_.soft_delete_column) != nullptr)
    where.push_back("t0." + quote_ident(options_.soft_delete_column) + " IS NULL");
  std::string from = "t0";
  size_t at = table;
  for (size_t i = 0; i < chain->size(); ++i) {
    const ForeignKey& fk = catalog_.foreign_keys[(*chain)[i]];
    const std::string to = "a" + std::to_string(i + 1);
    std::vector<std::string> on;
    for (size_t c = 0; c < fk.from_columns.size(); ++c)
      on.push_back(to + "." + quote_ident(fk.to_columns[c]) + " = " + from + "." + quote_ident(fk.from_columns[c]));
    sql += " JOIN " + from_clause(fk.to, to) + " ON " + join(on, " AND ");
    from = to;
    at = fk.to;
  }
  const Membership& tenant = membership_[at];
  const Column* key = catalog_.tables[at].find_column(tenant.tenant_key_column);
  where.push_back(from + "." + quote_ident(tenant.tenant_key_column) + " = CAST($1 AS " + key->type + ")");
  return sql + " WHERE " + join(where, " AND ") + " LIMIT 1";
}

std::string TenancyPlan::reference_sql(size_t table, std::string_view alias) const {
  const std::string a(alias);
  auto in_data = [&](size_t t) {
    return std::any_of(tables_.begin(), tables_.end(), [&](const PlannedTable& p) {
      return p.table == t && p.role != TableRole::Master;
    });
  };
  if (!in_data(table)) return {};
  int next_alias = 1;
  std::vector<std::string> any;
  for (size_t f = 0; f < catalog_.foreign_keys.size(); ++f) {
    const ForeignKey& fk = catalog_.foreign_keys[f];
    if (fk.to != table || !in_data(fk.from)) continue;
    if (membership_[fk.from].owning_fk == f) continue;  // owned rows are in the snapshot
    const auto& following = membership_[table].following_fks;
    if (std::find(following.begin(), following.end(), f) != following.end()) continue;  // likewise
    if (tenant_table_ && fk.to == tenant_table_->table && fk.from_columns.size() == 1 &&
        fk.from_columns[0] == options_.tenant_column)
      continue;  // the tenant column points at the tenant's own row
    any.push_back(exists_member_row(fk, true, a, next_alias));
  }
  if (any.empty()) return {};
  return "(" + join(any, " OR ") + ") AND NOT COALESCE(" +
         render_membership(table, a, next_alias) + ", false)";
}

std::string TenancyPlan::orphan_sql(size_t table, std::string_view alias) const {
  int next_alias = 1;
  return render_orphan(table, alias, next_alias);
}

std::string TenancyPlan::render_orphan(size_t table, std::string_view alias, int& next_alias) const {
  const Membership& m = membership_[table];
  const std::string a(alias);
  if (m.owning_fk) {
    // A child of an orphan (the variant records of an unattached blob).
    const ForeignKey& fk = catalog_.foreign_keys[*m.owning_fk];
    if (membership_[fk.to].following_fks.empty() && !membership_[fk.to].owning_fk) return {};
    std::string sub = "o" + std::to_string(next_alias++);
    const std::string above = render_orphan(fk.to, sub, next_alias);
    if (above.empty()) return {};
    std::vector<std::string> on;
    for (size_t c = 0; c < fk.from_columns.size(); ++c)
      on.push_back(sub + "." + quote_ident(fk.to_columns[c]) + " OPERATOR(pg_catalog.=) " + a + "." +
                   quote_ident(fk.from_columns[c]));
    return "EXISTS (SELECT 1 FROM " + from_clause(fk.to, sub) + " WHERE " + join(on, " AND ") + " AND " + above +
           ")";
  }
  if (m.following_fks.empty()) return {};
  std::vector<std::string> none;
  for (size_t f : m.following_fks) {
    const ForeignKey& fk = catalog_.foreign_keys[f];
    std::string sub = "o" + std::to_string(next_alias++);
    std::vector<std::string> on;
    for (size_t c = 0; c < fk.from_columns.size(); ++c)
      on.push_back(sub + "." + quote_ident(fk.from_columns[c]) + " OPERATOR(pg_catalog.=) " + a + "." +
                   quote_ident(fk.to_columns[c]));
    none.push_back("NOT EXISTS (SELECT 1 FROM " + from_clause(fk.from, sub) + " WHERE " + join(on, " AND ") + ")");
  }
  return join(none, " AND ");
}

std::string TenancyPlan::count_sql(const PlannedTable& planned) const {
  return "SELECT count(*) FROM " + from_clause(planned.table, "t0") + " WHERE " +
         membership_sql(planned.table, "t0");
}

std::vector<TenancyPlan::TenantKeyColumn> TenancyPlan::tenant_key_columns() const {
  std::vector<TenantKeyColumn> keys;
  if (!by_column_) return keys;
  auto add = [&](size_t table, const std::string& column) {
    const Column* c = catalog_.tables[table].find_column(column);
    if (c == nullptr) return;
    for (const auto& k : keys)
      if (k.type == c->type) return;
    keys.push_back({table, column, c->type});
  };
  if (tenant_table_) add(tenant_table_->table, tenant_table_->key_column);
  for (size_t i = 0; i < catalog_.tables.size(); ++i)
    if (membership_[i].role == TableRole::Tenant) add(i, membership_[i].tenant_key_column);
  return keys;
}

std::string TenancyPlan::tenant_lookup_sql() const {
  if (tenant_table_) {
    const TenantTable& tt = *tenant_table_;
    std::string name = tt.name_column.empty()
                           ? "NULL::text"
                           : "CAST(t0." + quote_ident(tt.name_column) + " AS text)";
    const Column* key = catalog_.tables[tt.table].find_column(tt.key_column);
    return "SELECT " + name + " FROM " + from_clause(tt.table, "t0") + " WHERE t0." +
           quote_ident(tt.key_column) + " = CAST($1 AS " + key->type + ") LIMIT 1";
  }
  std::vector<std::string> probes;
  for (size_t i = 0; i < catalog_.tables.size(); ++i) {
    const Membership& m = membership_[i];
    if (m.role != TableRole::Tenant) continue;
    const Column* key = catalog_.tables[i].find_column(m.tenant_key_column);
    probes.push_back("SELECT NULL::text FROM " + from_clause(i, "t0") + " WHERE t0." +
                     quote_ident(m.tenant_key_column) + " = CAST($1 AS " + key->type + ")");
  }
  return "SELECT * FROM (" + join(probes, " UNION ALL ") + ") AS probe LIMIT 1";
}

}  // namespace ptb::core
