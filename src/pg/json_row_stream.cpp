#include "pg/json_row_stream.hpp"

#include <cstring>

#include "pg/guarded.hpp"
#include "pg/progress.hpp"
#include "pg/spi_stream.hpp"

extern "C" {
#include "tcop/dest.h"
#include "utils/fmgroids.h"
}

namespace ptb::pg {

namespace {

using core::ValueEncoding;

struct ColumnOutput {
  ValueEncoding encoding;
  Oid base_type;    // for domains, the type underneath
  FmgrInfo output;  // the type's output function, looked up once
};

struct JsonRowReceiver {
  DestReceiver base;  // first: the executor sees a DestReceiver
  core::JsonWriter* writer;
  const std::vector<core::ValueEncoding>* encodings;
  ColumnOutput* columns;
  int ncolumns;
  // The receiver's own memory: startup runs in the executor's per-query
  // context, which is gone before the receiver is.
  MemoryContext receiver_context;
  MemoryContext row_context;  // reset after every row
  int64_t rows;
};

// A jsonb JSON null would read back as SQL NULL, and an object whose only
// key is "$jsonb" would read back as the escape: both are wrapped.
bool jsonb_needs_wrapping(Jsonb* value) {
  if (JB_ROOT_IS_SCALAR(value)) {
    JsonbValue scalar;
    return JsonbExtractScalar(&value->root, &scalar) && scalar.type == jbvNull;
  }
  if (!JB_ROOT_IS_OBJECT(value) || JB_ROOT_COUNT(value) != 1) return false;
  JsonbValue key;
  key.type = jbvString;
  key.val.string.val = const_cast<char*>(core::kJsonbEscapeKey);
  key.val.string.len = static_cast<int>(strlen(core::kJsonbEscapeKey));
  return findJsonbValueFromContainer(&value->root, JB_FOBJECT, &key) != nullptr;
}

void write_value(core::JsonWriter& w, const ColumnOutput& col, Datum value) {
  switch (col.encoding) {
    case ValueEncoding::Integer:
      if (col.base_type == INT8OID)
        w.integer(DatumGetInt64(value));
      else if (col.base_type == INT4OID)
        w.integer(DatumGetInt32(value));
      else
        w.integer(DatumGetInt16(value));
      return;
    case ValueEncoding::Boolean:
      w.boolean(DatumGetBool(value));
      return;
    case ValueEncoding::Bytea: {
      bytea* bytes = DatumGetByteaPP(value);
      w.base64(reinterpret_cast<const uint8_t*>(VARDATA_ANY(bytes)), VARSIZE_ANY_EXHDR(bytes));
      return;
    }
    case ValueEncoding::Text:
    case ValueEncoding::Json:
      // Their output functions copy the stored text as it is (textout,
      // varcharout, bpcharout, json_out): the bytes go to the writer
      // directly, with no output call and no C string in between.
      if (col.base_type == TEXTOID || col.base_type == VARCHAROID ||
          col.base_type == BPCHAROID || col.base_type == JSONOID) {
        text* t = DatumGetTextPP(value);
        w.string(std::string_view(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)));
        return;
      }
      break;
    default:
      break;
  }
  char* text = OutputFunctionCall(const_cast<FmgrInfo*>(&col.output), value);
  switch (col.encoding) {
    case ValueEncoding::Float: core::write_float(w, text); break;
    case ValueEncoding::Jsonb:
      if (jsonb_needs_wrapping(DatumGetJsonbP(value)))
        core::write_wrapped_jsonb(w, text);
      else
        w.raw(text);
      break;
    default: w.string(text); break;  // numeric, json, text
  }
}

// Called by the executor for each row: a server callback, so entry().
bool receive_row(TupleTableSlot* slot, DestReceiver* self) {
  auto* r = reinterpret_cast<JsonRowReceiver*>(self);
  return entry([&] {
    MemoryContext caller = MemoryContextSwitchTo(r->row_context);
    slot_getallattrs(slot);
    r->writer->begin_array();
    for (int i = 0; i < r->ncolumns; ++i) {
      if (slot->tts_isnull[i])
        r->writer->null();
      else
        write_value(*r->writer, r->columns[i], slot->tts_values[i]);
    }
    r->writer->end_array();
    MemoryContextSwitchTo(caller);
    MemoryContextReset(r->row_context);
    ++r->rows;
    progress::add_rows(1);
    return true;
  });
}

void receiver_startup(DestReceiver* self, int, TupleDesc desc) {
  auto* r = reinterpret_cast<JsonRowReceiver*>(self);
  if (static_cast<size_t>(desc->natts) != r->encodings->size())
    elog(ERROR, "pg_tenant_backup: query returned %d columns, expected %zu", desc->natts,
         r->encodings->size());
  r->ncolumns = desc->natts;
  r->columns = static_cast<ColumnOutput*>(
      MemoryContextAllocZero(r->receiver_context, sizeof(ColumnOutput) * (desc->natts + 1)));
  for (int i = 0; i < desc->natts; ++i) {
    ColumnOutput& c = r->columns[i];
    Oid type = TupleDescAttr(desc, i)->atttypid;
    c.base_type = getBaseType(type);
    c.encoding = (*r->encodings)[i];
    Oid func;
    bool varlena;
    getTypeOutputInfo(type, &func, &varlena);
    fmgr_info_cxt(func, &c.output, r->receiver_context);
  }
}

}  // namespace

int64_t stream_rows_as_json(const std::string& sql, const std::vector<TextValue>& params,
                            const std::vector<core::ValueEncoding>& encodings, core::JsonWriter& writer) {
  auto* receiver = new_streaming_receiver<JsonRowReceiver>(receive_row, receiver_startup);
  receiver->writer = &writer;
  receiver->encodings = &encodings;
  run_streaming(sql, params, &receiver->base);
  const int64_t rows = receiver->rows;
  delete_streaming_receiver(receiver);
  return rows;
}

}  // namespace ptb::pg
