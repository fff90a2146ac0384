// Step 4 of a merge (import_job.hpp): the rows of a section the table has
// as they are, found before staging so that they stay out of the stage
// (core/unchanged_rows.hpp; docs/import.md, "Rows a merge finds
// unchanged"). Before the stage, the section's keys, to see that none is
// there twice; then the tenant's rows of the table, written as the export
// writes them, as fingerprints that the stage's COPY looks each row of
// the section up in, one part of the section at a time. None keeps a row.
#include <algorithm>
#include <cstdint>

#include "pg/copy_section.hpp"
#include "pg/import_job.hpp"
#include "pg/row_fingerprints.hpp"
#include "pg/session.hpp"
#include "pg/setting_levels.hpp"

namespace ptb::pg {

namespace {

// The fingerprints of one part take at most this (13 bytes a row): 32MB,
// or maintenance_work_mem when lower. A section larger than that is
// compared in parts, each a pass of COPY over the section; past kMaxParts
// it costs more than the stage it saves, and is staged whole.
constexpr uint64_t kFingerprintBytes = 32ULL << 20;
constexpr uint32_t kMaxParts = 8;

uint64_t fingerprint_budget() { return std::min(kFingerprintBytes, maintenance_memory_bytes()); }

// Per key column, its place among the loaded columns and what its text
// is; none when a key column's text does not decide its value.
std::optional<std::vector<std::pair<size_t, core::KeyText>>> key_fields(const core::StagedTable& staged) {
  if (staged.key_opclasses.size() != staged.key.size()) return std::nullopt;
  std::vector<std::pair<size_t, core::KeyText>> fields;
  for (size_t i = 0; i < staged.key.size(); ++i) {
    const auto kind = core::key_text_of(staged.key_opclasses[i]);
    const auto at = std::find(staged.columns.begin(), staged.columns.end(), staged.key[i]);
    if (!kind || at == staged.columns.end()) return std::nullopt;
    fields.emplace_back(static_cast<size_t>(at - staged.columns.begin()), *kind);
  }
  return fields;
}

// False when a key is there twice (or two keys' fingerprints are equal) or
// not in its one form: the stage's unique index then says which key. One
// part at a time, as the rows are compared (a key twice is twice in one
// part), so that the keys' fingerprints take 8 bytes a row of one part.
bool keys_are_distinct(const LoadTable& t, const SpilledRows& spilled,
                       const std::vector<std::pair<size_t, core::KeyText>>& fields, uint32_t parts) {
  // The section's key columns alone, read as COPY would read them.
  SectionCopy keys_only{t.section, {}, {}, {}, t.staged.display, nullptr};
  for (const auto& [column, kind] : fields) {
    keys_only.columns.push_back(t.staged.columns[column]);
    keys_only.positions.push_back(t.positions[column]);
    keys_only.encodings.push_back(t.encodings[column]);
  }
  for (uint32_t part = 0; part < parts; ++part) {
    const core::KeyPart in{part, parts};
    std::vector<uint64_t> keys;
    keys.reserve(t.section->row_count / parts + t.section->row_count / parts / 8 + 1024);
    bool canonical = true;
    for_each_copy_line(keys_only, spilled, [&](std::string_view key) {
      if (!canonical || !in.covers(key_hash(key))) return;
      for (size_t i = 0; i < fields.size(); ++i) {
        const auto field = core::copy_field(key, i);
        if (!field || !core::canonical_key_field(*field, fields[i].second)) {
          canonical = false;
          return;
        }
      }
      keys.push_back(key_fingerprint(key));
    });
    if (!canonical || core::has_repeats(keys)) return false;
  }
  return true;
}

}  // namespace

uint32_t unchanged_row_parts(ImportJob& job, const LoadTable& t) {
  const auto fields = key_fields(t.staged);
  core::UnchangedRowsFacts facts;
  facts.merge_without_triggers = job.mode == core::ImportMode::Merge && !job.io.fire_triggers;
  facts.restoring_to_moment = job.request.replay != nullptr;
  facts.staged = t.data && !t.direct;
  facts.unique_key = t.staged.has_key() && t.staged.key_opclasses.size() == t.staged.key.size();
  facts.key_text_decides = fields.has_value();
  facts.migrates = !t.staged.inserted_values.empty() || !t.needs_value.empty() || !t.now_not_null.empty();
  facts.citus = t.staged.citus;
  facts.checks_read_written_rows = !job.by_column || owner_checked_on_written_rows(job, t);
  for (const auto& fk : job.data_foreign_keys)
    if (fk.from_oid == t.oid && !references_checked_on_written_rows(job, fk)) facts.checks_read_written_rows = false;
  facts.rows = t.section->row_count;
  facts.parts = core::fingerprint_parts(facts.rows, fingerprint_budget(), kMaxParts);
  if (!core::leaves_out_unchanged_rows(facts)) return 0;
  return keys_are_distinct(t, *job.request.spilled, *fields, facts.parts) ? facts.parts : 0;
}

TenantsRows::TenantsRows(ImportJob& job, const LoadTable& t, uint32_t parts)
    : job_(job), t_(t), rows_per_part_(fingerprint_budget() / core::TableRows::kBytesPerRow) {
  for (uint32_t part = 1; part < parts; ++part) later_.push_back(std::make_unique<FingerprintFile>(rows_per_part_));
}

TenantsRows::~TenantsRows() = default;

core::TableRows TenantsRows::part(core::KeyPart part) {
  // Within the budget whatever the table holds: a tenant may have far
  // more rows in the table than its snapshot has (then nothing of this
  // part is found unchanged).
  core::TableRows rows(rows_per_part_);
  if (part.part > 0) {
    later_.at(part.part - 1)->read_into(rows);
    later_[part.part - 1].reset();
    rows.seal();
    return rows;
  }
  std::string columns;
  for (const auto& c : t_.staged.columns) columns += (columns.empty() ? "t0." : ", t0.") + core::quote_ident(c);
  const std::vector<size_t> key_places = t_.staged.key_places();
  // Planned from statistics that say the tenant has few rows, the
  // membership's joins would loop (import.cpp, step 5).
  const int level = job_.statistics_stale ? set_setting("enable_nestloop", "off") : -1;
  fingerprint_query_rows(
      "SELECT " + columns + " FROM " + t_.staged.only_target() + " t0 WHERE " + job_.owned_sql(t_, "t0"),
      job_.params, t_.encodings, [&](std::string_view line) {
        const core::RowFingerprint f = line_fingerprint(line);
        const uint32_t in =
            part.parts > 1 ? core::KeyPart::of(key_hash(core::key_of_line(line, key_places)), part.parts) : 0;
        if (in == 0)
          rows.add(f);
        else
          later_.at(in - 1)->add(f);
      });
  if (level >= 0) undo_settings(level);
  rows.seal();
  return rows;
}

}  // namespace ptb::pg
