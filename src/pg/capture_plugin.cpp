// The logical decoding output plugin of change capture (docs/pitr.md): the
// slot ptb_capture_<database oid> is created with plugin name
// 'pg_tenant_backup', which makes the server call _PG_output_plugin_init
// of this library. Per committed transaction that changed a table of the
// scanned schemas it writes a begin line, one line per row change and a
// commit line, each a JSON object encoded by core::encode_change. Tables of
// the extension itself and catalogs are left out; a transaction with
// nothing left writes nothing.
//
// Only glue: the server's tuples become core::ChangeRecords here. Server
// calls that may raise run inside guarded(), in plain C frames that hold no
// C++ object.
#include <string>
#include <vector>

#include "core/change_record.hpp"
#include "core/options.hpp"
#include "pg/guarded.hpp"
#include "pg/settings.hpp"

extern "C" {
#include "access/transam.h"
#include "catalog/dependency.h"
#include "catalog/catalog.h"
#include "catalog/pg_class.h"
#include "commands/extension.h"
#include "nodes/bitmapset.h"
#include "replication/logical.h"
#include "replication/output_plugin.h"
#include "replication/reorderbuffer.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/rel.h"
#include "utils/relcache.h"
}

namespace ptb::pg {

namespace {

// PostgreSQL 17 passes heap tuples directly, earlier versions in a buffer.
#if PG_VERSION_NUM >= 170000
HeapTuple tuple_of(HeapTuple tuple) { return tuple; }
#else
HeapTuple tuple_of(ReorderBufferTupleBuf* buffer) { return buffer ? &buffer->tuple : nullptr; }
#endif

struct RelationEntry {
  Oid relid;  // hash key
  bool included;
};

// Lives in the decoding context's memory (palloc), so an ERROR that ends
// the decoding frees it with the context: no destructor needed.
struct PluginState {
  MemoryContext row_context;  // reset after each change
  HTAB* relations;            // relid -> included
  Oid extension;              // pg_tenant_backup's pg_extension oid
  bool all_schemas;           // schema tenancy: every user schema
  int schema_count;
  char** schemas;             // pg_tenant_backup.schemas (column tenancy)
  bool begun;                 // the current transaction's begin line is written
};

// Plain C frames from here to the C++ conversions below.

bool compute_included(PluginState* st, Relation rel) {
  const char kind = rel->rd_rel->relkind;
  if (kind != RELKIND_RELATION) return false;
  if (IsCatalogRelation(rel)) return false;
  const Oid relid = RelationGetRelid(rel);
  if (OidIsValid(st->extension) && getExtensionOfObject(RelationRelationId, relid) == st->extension) return false;
  const char* schema = get_namespace_name(RelationGetNamespace(rel));
  if (schema == nullptr) return false;
  if (st->all_schemas)
    return strcmp(schema, "information_schema") != 0 && strncmp(schema, "pg_", 3) != 0;
  for (int i = 0; i < st->schema_count; ++i)
    if (strcmp(schema, st->schemas[i]) == 0) return true;
  return false;
}

bool relation_included(PluginState* st, Relation rel) {
  Oid relid = RelationGetRelid(rel);
  bool found = false;
  auto* entry = static_cast<RelationEntry*>(hash_search(st->relations, &relid, HASH_ENTER, &found));
  if (!found) entry->included = compute_included(st, rel);
  return entry->included;
}

// The columns of a tuple as text, in the row context. `only`: attribute
// numbers to keep (offset by FirstLowInvalidHeapAttributeNumber), null for
// every column. unchanged[i]: a TOASTed value an update did not change (its
// value is not in the WAL).
struct RawColumns {
  int count;
  const char** names;
  char** values;  // null: SQL NULL
  bool* unchanged;
};

void read_columns(Relation rel, HeapTuple tuple, Bitmapset* only, RawColumns* out) {
  TupleDesc desc = RelationGetDescr(rel);
  out->count = 0;
  out->names = static_cast<const char**>(palloc(sizeof(char*) * (desc->natts + 1)));
  out->values = static_cast<char**>(palloc(sizeof(char*) * (desc->natts + 1)));
  out->unchanged = static_cast<bool*>(palloc(sizeof(bool) * (desc->natts + 1)));
  for (int i = 0; i < desc->natts; ++i) {
    Form_pg_attribute att = TupleDescAttr(desc, i);
    if (att->attisdropped || att->attgenerated) continue;
    if (only != nullptr && !bms_is_member(att->attnum - FirstLowInvalidHeapAttributeNumber, only)) continue;
    bool isnull = false;
    Datum value = heap_getattr(tuple, i + 1, desc, &isnull);
    const int n = out->count++;
    out->names[n] = NameStr(att->attname);
    out->unchanged[n] = false;
    out->values[n] = nullptr;
    if (isnull) continue;
    Oid output;
    bool varlena;
    getTypeOutputInfo(att->atttypid, &output, &varlena);
    if (varlena && VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value))) {
      out->unchanged[n] = true;
      continue;
    }
    if (varlena) value = PointerGetDatum(PG_DETOAST_DATUM(value));
    out->values[n] = OidOutputFunctionCall(output, value);
  }
}

// The full (64-bit, with epoch) id of a transaction being decoded: it is in
// the past of the next transaction id, by less than 2^31.
uint64_t full_xid(TransactionId xid) {
  FullTransactionId next = ReadNextFullTransactionId();
  uint64_t epoch = EpochFromFullTransactionId(next);
  if (xid > XidFromFullTransactionId(next) && epoch > 0) --epoch;
  return epoch << 32 | xid;
}

void write_line(LogicalDecodingContext* ctx, const char* data, size_t size, bool last) {
  OutputPluginPrepareWrite(ctx, last);
  appendBinaryStringInfo(ctx->out, data, static_cast<int>(size));
  OutputPluginWrite(ctx, last);
}

// --- C++ side.

PluginState* state_of(LogicalDecodingContext* ctx) { return static_cast<PluginState*>(ctx->output_plugin_private); }

void emit(LogicalDecodingContext* ctx, const core::ChangeRecord& record, bool last) {
  const std::string line = core::encode_change(record);
  guarded([&] { write_line(ctx, line.data(), line.size(), last); });
}

std::vector<core::ChangeColumn> columns_of(const RawColumns& raw) {
  std::vector<core::ChangeColumn> columns;
  columns.reserve(static_cast<size_t>(raw.count));
  for (int i = 0; i < raw.count; ++i) {
    if (raw.unchanged[i]) continue;  // left out: the update did not change it
    columns.push_back({raw.names[i], raw.values[i] ? std::optional<std::string>(raw.values[i]) : std::nullopt});
  }
  return columns;
}

void begin_if_needed(LogicalDecodingContext* ctx, ReorderBufferTXN* txn) {
  PluginState* st = state_of(ctx);
  if (st->begun) return;
  uint64_t xid = 0;
  guarded([&] { xid = full_xid(txn->xid); });
  core::ChangeRecord begin;
  begin.op = core::ChangeOp::Begin;
  begin.xid = std::to_string(xid);
  emit(ctx, begin, true);
  st->begun = true;
}

void on_startup(LogicalDecodingContext* ctx, OutputPluginOptions* options, bool) {
  options->output_type = OUTPUT_PLUGIN_TEXTUAL_OUTPUT;
  options->receive_rewrites = false;
  const core::SnapshotOptions settings = settings_snapshot_options();
  guarded([&] {
    auto* st = static_cast<PluginState*>(MemoryContextAllocZero(ctx->context, sizeof(PluginState)));
    st->row_context = AllocSetContextCreate(ctx->context, "pg_tenant_backup capture row", ALLOCSET_DEFAULT_SIZES);
    HASHCTL hash;
    memset(&hash, 0, sizeof hash);
    hash.keysize = sizeof(Oid);
    hash.entrysize = sizeof(RelationEntry);
    hash.hcxt = ctx->context;
    st->relations = hash_create("pg_tenant_backup capture relations", 64, &hash, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
    st->extension = get_extension_oid("pg_tenant_backup", true);
    st->all_schemas = settings.tenancy == core::TenancyMode::Schema;
    st->schema_count = static_cast<int>(settings.schemas.size());
    st->schemas = static_cast<char**>(MemoryContextAllocZero(ctx->context, sizeof(char*) * (settings.schemas.size() + 1)));
    for (size_t i = 0; i < settings.schemas.size(); ++i)
      st->schemas[i] = MemoryContextStrdup(ctx->context, settings.schemas[i].c_str());
    ctx->output_plugin_private = st;
  });
}

void on_begin(LogicalDecodingContext* ctx, ReorderBufferTXN*) { state_of(ctx)->begun = false; }

void on_change(LogicalDecodingContext* ctx, ReorderBufferTXN* txn, Relation rel, ReorderBufferChange* change) {
  PluginState* st = state_of(ctx);
  core::ChangeRecord record;
  switch (change->action) {
    case REORDER_BUFFER_CHANGE_INSERT: record.op = core::ChangeOp::Insert; break;
    case REORDER_BUFFER_CHANGE_UPDATE: record.op = core::ChangeOp::Update; break;
    case REORDER_BUFFER_CHANGE_DELETE: record.op = core::ChangeOp::Delete; break;
    default: return;
  }
  bool included = false;
  const char* schema = nullptr;
  RawColumns row{}, key{};
  bool have_key = false;
  MemoryContext previous = CurrentMemoryContext;
  guarded([&] {
    included = relation_included(st, rel);
    if (!included) return;
    MemoryContextSwitchTo(st->row_context);
    schema = get_namespace_name(RelationGetNamespace(rel));
    HeapTuple new_tuple = tuple_of(change->data.tp.newtuple);
    HeapTuple old_tuple = tuple_of(change->data.tp.oldtuple);
    if (change->action != REORDER_BUFFER_CHANGE_DELETE && new_tuple != nullptr)
      read_columns(rel, new_tuple, nullptr, &row);
    if (change->action != REORDER_BUFFER_CHANGE_INSERT) {
      // The replica identity: the whole old row with FULL, else the key
      // columns, from the old tuple when the WAL has it (the key changed,
      // or a delete), else from the new row (an update keeping its key).
      if (rel->rd_rel->relreplident == REPLICA_IDENTITY_FULL) {
        if (old_tuple != nullptr) {
          read_columns(rel, old_tuple, nullptr, &key);
          have_key = true;
        }
      } else {
        Bitmapset* identity = RelationGetIdentityKeyBitmap(rel);
        HeapTuple source = old_tuple != nullptr ? old_tuple : new_tuple;
        if (identity != nullptr && source != nullptr) {
          read_columns(rel, source, identity, &key);
          have_key = true;
        }
      }
    }
    MemoryContextSwitchTo(previous);
  });
  if (!included) return;
  begin_if_needed(ctx, txn);
  record.schema = schema ? schema : "";
  record.table = RelationGetRelationName(rel);
  if (record.op != core::ChangeOp::Delete) record.row = columns_of(row);
  if (record.op != core::ChangeOp::Insert && have_key) record.key = columns_of(key);
  emit(ctx, record, true);
  guarded([&] { MemoryContextReset(st->row_context); });
}

void on_truncate(LogicalDecodingContext* ctx, ReorderBufferTXN* txn, int count, Relation relations[],
                 ReorderBufferChange*) {
  PluginState* st = state_of(ctx);
  for (int i = 0; i < count; ++i) {
    bool included = false;
    const char* schema = nullptr;
    guarded([&] {
      included = relation_included(st, relations[i]);
      if (included) schema = get_namespace_name(RelationGetNamespace(relations[i]));
    });
    if (!included) continue;
    begin_if_needed(ctx, txn);
    core::ChangeRecord record;
    record.op = core::ChangeOp::Truncate;
    record.schema = schema ? schema : "";
    record.table = RelationGetRelationName(relations[i]);
    emit(ctx, record, true);
  }
}

void on_commit(LogicalDecodingContext* ctx, ReorderBufferTXN* txn, XLogRecPtr) {
  PluginState* st = state_of(ctx);
  if (!st->begun) return;  // nothing of the scanned schemas changed
  uint64_t xid = 0;
  guarded([&] { xid = full_xid(txn->xid); });
  core::ChangeRecord commit;
  commit.op = core::ChangeOp::Commit;
  commit.xid = std::to_string(xid);
  const TimestampTz at = txn->xact_time.commit_time;
  commit.commit_at =
      core::utc_timestamp(at + static_cast<int64_t>(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
  // The end of the commit record: the slot is advanced to it once the
  // transaction is in a recorded segment.
  commit.lsn = core::format_lsn(txn->end_lsn);
  emit(ctx, commit, true);
  st->begun = false;
}

}  // namespace

}  // namespace ptb::pg

extern "C" {

static void ptb_capture_startup(LogicalDecodingContext* ctx, OutputPluginOptions* options, bool is_init) {
  ptb::pg::entry([&] { ptb::pg::on_startup(ctx, options, is_init); });
}
static void ptb_capture_begin(LogicalDecodingContext* ctx, ReorderBufferTXN* txn) {
  ptb::pg::entry([&] { ptb::pg::on_begin(ctx, txn); });
}
static void ptb_capture_change(LogicalDecodingContext* ctx, ReorderBufferTXN* txn, Relation rel,
                               ReorderBufferChange* change) {
  ptb::pg::entry([&] { ptb::pg::on_change(ctx, txn, rel, change); });
}
static void ptb_capture_truncate(LogicalDecodingContext* ctx, ReorderBufferTXN* txn, int count,
                                 Relation relations[], ReorderBufferChange* change) {
  ptb::pg::entry([&] { ptb::pg::on_truncate(ctx, txn, count, relations, change); });
}
static void ptb_capture_commit(LogicalDecodingContext* ctx, ReorderBufferTXN* txn, XLogRecPtr lsn) {
  ptb::pg::entry([&] { ptb::pg::on_commit(ctx, txn, lsn); });
}

PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks* cb);
void _PG_output_plugin_init(OutputPluginCallbacks* cb) {
  cb->startup_cb = ptb_capture_startup;
  cb->begin_cb = ptb_capture_begin;
  cb->change_cb = ptb_capture_change;
  cb->truncate_cb = ptb_capture_truncate;
  cb->commit_cb = ptb_capture_commit;
}
}
