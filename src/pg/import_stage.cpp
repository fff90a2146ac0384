// Step 4 of an import (import_job.hpp): each section copied into a
// temporary stage through COPY, indexed on its key and analyzed, or, for a
// table holding none of the tenant's rows, straight into the table
// (core::loads_directly; docs/import.md, "Tables the tenant has no rows
// in"). A restore to a moment then replays into the stages
// (import_replay.cpp).
#include <algorithm>
#include <functional>

#include "core/error.hpp"
#include "pg/boundary.hpp"
#include "pg/copy_section.hpp"
#include "pg/import_job.hpp"
#include "pg/progress.hpp"
#include "pg/session.hpp"
#include "pg/setting_levels.hpp"
#include "pg/subtransaction.hpp"

namespace ptb::pg {

using core::quote_ident;

namespace {

// What COPY loads of the table's section: its rows; with `table_rows`,
// only those of `part` that are not one of the tenant's rows of the table
// (a merge's, import_unchanged.cpp).
SectionCopy copy_of(const LoadTable& t, const core::TableRows* table_rows = nullptr, core::KeyPart part = {}) {
  return SectionCopy{t.section, t.staged.columns, t.positions, t.encodings, t.staged.display,
                     table_rows, part, t.staged.key_places()};
}

// Creates the staging table and copies the section's rows into it.
// `unique`: index its key as unique, proving no key is there twice (a
// restore to a moment does not: its replay writes the stage by key).
// `parts` > 0: a merge's rows the table has as they are are left out,
// the section compared in that many parts, `table_rows` reading each.
//
// Staging tables are named ptb_stage_1, _2, ... afresh for each import
// (`stages_made` counts them): they are dropped at its end (or rolled back
// with it), and names that never repeat would fill the backend's catalog
// caches with entries for names looked up once.
void stage(LoadTable& t, const SpilledRows& rows, bool unique, uint64_t& stages_made, uint32_t parts,
           const std::function<core::TableRows(core::KeyPart)>& table_rows) {
  const std::string name = "ptb_stage_" + std::to_string(++stages_made);
  t.staged.stage = "pg_temp." + quote_ident(name);
  // Only the loaded columns, with their types, typmods and collations
  // (domains keep their checks); no defaults, constraints or triggers.
  run("CREATE TEMP TABLE " + t.staged.stage + " ON COMMIT DROP AS SELECT " +
      column_list(t.staged.columns) + " FROM " + t.staged.target + " WITH NO DATA");
  const Oid stage_oid = static_cast<Oid>(
      std::stoul(*run("SELECT $1::pg_catalog.regclass::pg_catalog.oid::pg_catalog.text", {t.staged.stage})
                      .rows.at(0)
                      .at(0)));
  uint64_t copied = 0;
  t.left_out = 0;
  if (parts == 0) copied = copy_section(copy_of(t), rows, stage_oid);
  for (uint32_t part = 0; part < parts; ++part) {
    const core::TableRows tenants_rows = table_rows({part, parts});
    uint64_t left_out = 0;
    copied += copy_section(copy_of(t, &tenants_rows, {part, parts}), rows, stage_oid, &left_out);
    t.left_out += left_out;
  }
  if (t.staged.has_key()) {
    // The index sorts within work_mem, as the import's queries do: at
    // maintenance_work_mem, a budget set for maintenance, its sort would
    // hold up to that much for a large tenant (docs/performance.md).
    const std::string sort_kb = std::to_string(sort_memory_kb());
    const int level = set_setting("maintenance_work_mem", sort_kb.c_str());
    t.keys_unique = false;
    if (unique) {
      try {
        in_subtransaction(true, [&] { return run(core::stage_key_index_sql(t.staged, true)); });
        t.keys_unique = true;
      } catch (const ServerError& e) {
        // A key twice: check_staged_keys names it.
        if (e.sqlstate() != std::string_view(core::sqlstate::kUniqueViolation)) throw;
      }
    }
    if (!t.keys_unique) run(core::stage_key_index_sql(t.staged, false));
    undo_settings(level);
  }
  // Statistics, so the checks and writes are planned for the real number of
  // rows: without them the planner guesses a small table and may hash a
  // subplan over it that then grows with the tenant, past work_mem.
  run("ANALYZE " + t.staged.stage);
  t.outcome.left_out_unchanged = static_cast<int64_t>(t.left_out);
  t.staged_rows = copied;
  if (copied + t.left_out != t.section->row_count)
    throw core::Error(core::sqlstate::kInternalError, "pg_tenant_backup: staged " + std::to_string(copied) + " rows of " +
                                   t.staged.display + ", the snapshot has " +
                                   std::to_string(t.section->row_count));
}

}  // namespace

// Copies a data section straight into its table, in a subtransaction of
// its own, then counts the rows it wrote that `membership` (on alias ptb_l;
// none: every row of the table is the tenant's) says are the tenant's.
// False, with nothing written, when the table refuses a row for a unique
// key (a key another tenant's row has, or one the snapshot repeats) or a
// written row is not the tenant's: the caller stages the section then, and
// its checks give the exact reason.
bool load_directly(ImportJob& job, LoadTable& t) {
  const SpilledRows& rows = *job.request.spilled;
  std::optional<std::string> membership;
  if (job.by_column) membership = job.owned_sql(t, "ptb_l");
  const std::vector<TextValue>& params = job.params;
  struct NotAllTheTenants {};
  const Oid oid = static_cast<Oid>(std::stoul(t.oid));
  try {
    in_subtransaction(true, [&] {
      const uint64_t copied = copy_section(copy_of(t), rows, oid);
      const std::string xid = writing_transaction();
      t.loaded_xid = xid.empty() ? "0" : xid;  // nothing written: an id no row has
      if (membership && copied > 0) {
        std::vector<TextValue> with_xid = params;
        with_xid.emplace_back(t.loaded_xid);
        const int64_t owned =
            first_int(run(core::count_loaded_rows_sql(t.staged, *membership, static_cast<int>(with_xid.size())),
                          with_xid));
        if (owned != static_cast<int64_t>(copied)) throw NotAllTheTenants{};
      }
      t.outcome.inserted = static_cast<int64_t>(copied);
      t.outcome.loaded_directly = true;
      return true;
    });
    return true;
  } catch (const ServerError& e) {
    if (e.sqlstate() != std::string_view(core::sqlstate::kUniqueViolation)) throw;
  } catch (const NotAllTheTenants&) {
  }
  t.loaded_xid.clear();
  t.outcome.inserted = 0;
  return false;
}

void stage(ImportJob& job, LoadTable& t) {
  stage(t, *job.request.spilled, job.request.replay == nullptr, job.stages_made, 0, {});
}

void choose_direct_loads(ImportJob& job) {
  const auto& tenant_table = job.plan.tenant_table();
  for (auto& t : job.tables) {
    if (!t.data) continue;
    core::DirectLoadFacts facts;
    facts.has_key = t.staged.has_key();
    facts.restoring_to_moment = job.request.replay != nullptr;
    facts.migrates = !t.staged.inserted_values.empty() || !t.needs_value.empty() || !t.now_not_null.empty();
    facts.brings_back_tenant = !job.tenant_exists && tenant_table && tenant_table->table == t.catalog_index;
    const Oid oid = static_cast<Oid>(std::stoul(t.oid));
    facts.plain_table = is_plain_table(oid) && !t.staged.citus && !t.staged.partitioned;
    // As COPY FROM itself asks (the staged path's INSERT is checked by the
    // executor).
    facts.may_insert = may_insert(oid);
    if (facts.has_key && facts.plain_table && facts.may_insert) {
      std::string any_row = job.owner_plan.any_member_row_sql(t.owner_index);
      if (any_row.empty())
        any_row = "SELECT 1 FROM " + t.staged.only_target() + " t0 WHERE " + job.owned_sql(t, "t0") + " LIMIT 1";
      facts.tenant_has_rows = !run(any_row, job.params).rows.empty();
    }
    t.direct = core::loads_directly(facts);
  }
}

void stage_sections(ImportJob& job) {
  auto staged = [](const LoadTable& t) { return !t.direct && (t.data || t.staged.has_key()); };
  progress::set_phase(progress::Phase::Staging, std::count_if(job.tables.begin(), job.tables.end(), staged));
  for (auto& t : job.tables)
    if (staged(t)) {
      const uint32_t parts = unchanged_row_parts(job, t);
      TenantsRows tenants_rows(job, t, parts);
      stage(t, *job.request.spilled, job.request.replay == nullptr, job.stages_made, parts,
            [&](core::KeyPart part) { return tenants_rows.part(part); });
      progress::table_done();
    }
  if (job.request.replay) {
    progress::set_phase(progress::Phase::Replaying, std::nullopt, true);
    replay_into_stages(job);
  }
}

}  // namespace ptb::pg
