// A restore to a moment (docs/pitr.md), step 4 of its import: the
// captured changes replayed into the stages, then what the tenancy plan
// says is not the tenant's at that moment removed from them.
#include "pg/import_job.hpp"

namespace ptb::pg {

// A restore to a moment: the captured changes go into the stages, then
// every staged row that is not the tenant's then (a row of another tenant
// an update touched, a child whose parent left) is removed, judged by the
// tenancy plan with the stages standing for the tables. Soft-deleted rows
// count as the tenant's: the moment is restored as it was.
void replay_into_stages(ImportJob& job) {
  const StageReplay& replay = *job.request.replay;
  const core::Catalog& catalog = job.plan.catalog();
  const core::TenancyPlan& owner_plan = job.owner_plan;
  const std::vector<TextValue>& params = job.params;
  std::vector<LoadTable*> tables;
  for (auto& t : job.tables)
    if (t.data) tables.push_back(&t);
  std::vector<core::ReplayStage> stages;
  std::vector<std::pair<size_t, std::string>> relations;
  for (const auto* t : tables) {
    core::ReplayStage s;
    s.schema = catalog.tables[t->catalog_index].schema;
    s.name = catalog.tables[t->catalog_index].name;
    s.display = t->staged.display;
    s.stage = t->staged.stage;
    s.key = t->staged.key;
    s.key_operators = t->staged.key_operators;
    std::map<std::string, std::string> types;
    for (const auto& row : run("SELECT a.attname::pg_catalog.text, pg_catalog.format_type(a.atttypid, a.atttypmod)"
                               "  FROM pg_catalog.pg_attribute a"
                               " WHERE a.attrelid = $1::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped",
                               {t->staged.stage})
                             .rows)
      types[*row[0]] = *row[1];
    for (const auto& c : t->staged.columns) {
      s.columns.push_back(c);
      s.types.push_back(types.at(c));
    }
    stages.push_back(std::move(s));
    relations.emplace_back(t->owner_index, t->staged.stage);
  }
  replay.apply(stages);
  if (owner_plan.uses_tenant_parameter()) {
    const core::TenancyPlan over = owner_plan.reading_from(relations);
    for (const auto& [index, stage] : relations) {
      std::string owned = over.membership_sql(index, "t0");
      if (std::string orphan = over.orphan_sql(index, "t0"); !orphan.empty())
        owned = "(" + owned + ") OR (" + orphan + ")";
      run("DELETE FROM " + stage + " t0 WHERE NOT COALESCE((" + owned + "), false)", params);
    }
  }
  for (auto* t : tables) {
    run("ANALYZE " + t->staged.stage);
    t->outcome.rows = first_int(run("SELECT pg_catalog.count(*) FROM " + t->staged.stage));
  }
  replay.check(stages);
}

}  // namespace ptb::pg
