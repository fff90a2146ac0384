#include "pg/row_fingerprints.hpp"

#include <algorithm>
#include <climits>
#include <cstring>
#include <exception>

#include "pg/column_types.hpp"
#include "pg/guarded.hpp"
#include "pg/spi_stream.hpp"

extern "C" {
#include "common/hashfn.h"
#include "storage/buffile.h"
#include "tcop/dest.h"
#include "utils/fmgroids.h"
}

namespace ptb::pg {

namespace {

// Fixed seeds, so that both sides of a comparison hash alike.
constexpr uint64 kHighSeed = 0x5054425f524f5731ULL;
constexpr uint64 kLowSeed = 0x5054425f524f5732ULL;
constexpr uint64 kKeySeed = 0x5054425f4b455931ULL;

uint64 hash_of(std::string_view text, uint64 seed) {
  // hash_bytes_extended takes an int length: a longer line is hashed a
  // gigabyte at a time, each part seeded with the hash so far.
  constexpr size_t kPart = 1 << 30;
  uint64 h = seed;
  do {
    const size_t n = std::min(text.size(), kPart);
    h = hash_bytes_extended(reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(n), h);
    text.remove_prefix(n);
  } while (!text.empty());
  return h;
}

struct FingerprintReceiver {
  DestReceiver base;  // first: the executor sees a DestReceiver
  const std::vector<core::ValueEncoding>* encodings;
  const std::function<void(std::string_view line)>* visit;
  FmgrInfo* outputs;  // per column
  Oid* types;         // per column, the base type
  bool* own_types;    // per column, of the type its encoding was chosen for
  int ncolumns;
  MemoryContext receiver_context;
  MemoryContext row_context;  // reset after every row
  std::string* line;
  int64_t count;
};

// A text type's stored bytes are its output (textout, varcharout,
// bpcharout, json_out copy them): no output call.
bool copies_stored_text(Oid type) {
  return type == TEXTOID || type == VARCHAROID || type == BPCHAROID || type == JSONOID;
}

bool receive_row(TupleTableSlot* slot, DestReceiver* self) {
  auto* r = reinterpret_cast<FingerprintReceiver*>(self);
  return entry([&] {
    MemoryContext caller = MemoryContextSwitchTo(r->row_context);
    slot_getallattrs(slot);
    std::string& line = *r->line;
    line.clear();
    bool comparable = true;
    for (int i = 0; i < r->ncolumns && comparable; ++i) {
      if (i > 0) line += '\t';
      if (slot->tts_isnull[i]) {
        line += "\\N";
        continue;
      }
      std::string_view output;
      if (copies_stored_text(r->types[i])) {
        text* t = DatumGetTextPP(slot->tts_values[i]);
        output = std::string_view(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
      } else {
        output = OutputFunctionCall(&r->outputs[i], slot->tts_values[i]);
      }
      comparable = core::append_copy_field_of_output(line, output, (*r->encodings)[i], r->own_types[i]);
    }
    if (comparable) (*r->visit)(line);
    MemoryContextSwitchTo(caller);
    MemoryContextReset(r->row_context);
    ++r->count;
    return true;
  });
}

void receiver_startup(DestReceiver* self, int, TupleDesc desc) {
  auto* r = reinterpret_cast<FingerprintReceiver*>(self);
  if (static_cast<size_t>(desc->natts) != r->encodings->size())
    elog(ERROR, "pg_tenant_backup: query returned %d columns, expected %zu", desc->natts, r->encodings->size());
  r->ncolumns = desc->natts;
  r->outputs = static_cast<FmgrInfo*>(
      MemoryContextAllocZero(r->receiver_context, sizeof(FmgrInfo) * (desc->natts + 1)));
  r->types = static_cast<Oid*>(MemoryContextAllocZero(r->receiver_context, sizeof(Oid) * (desc->natts + 1)));
  r->own_types =
      static_cast<bool*>(MemoryContextAllocZero(r->receiver_context, sizeof(bool) * (desc->natts + 1)));
  for (int i = 0; i < desc->natts; ++i) {
    const Oid type = TupleDescAttr(desc, i)->atttypid;
    r->types[i] = getBaseType(type);
    r->own_types[i] = column_type_facts(type).encoding == (*r->encodings)[i];
    Oid func;
    bool varlena;
    getTypeOutputInfo(type, &func, &varlena);
    fmgr_info_cxt(func, &r->outputs[i], r->receiver_context);
  }
}

}  // namespace

core::RowFingerprint line_fingerprint(std::string_view line) {
  core::RowFingerprint f;
  f.high = hash_of(line, kHighSeed);
  f.low = static_cast<uint32_t>(hash_of(line, kLowSeed));
  return f;
}

uint64_t key_fingerprint(std::string_view fields) { return hash_of(fields, kKeySeed); }

// A key is short: hash_bytes, 32 bits.
uint32_t key_hash(std::string_view fields) {
  return hash_bytes(reinterpret_cast<const unsigned char*>(fields.data()),
                    static_cast<int>(std::min<size_t>(fields.size(), INT_MAX)));
}

int64_t fingerprint_query_rows(const std::string& sql, const std::vector<TextValue>& params,
                               const std::vector<core::ValueEncoding>& encodings,
                               const std::function<void(std::string_view line)>& visit) {
  auto* receiver = new_streaming_receiver<FingerprintReceiver>(receive_row, receiver_startup);
  std::string line;
  receiver->encodings = &encodings;
  receiver->visit = &visit;
  receiver->line = &line;
  run_streaming(sql, params, &receiver->base);
  const int64_t count = receiver->count;
  delete_streaming_receiver(receiver);
  return count;
}

namespace {
// Written to the file a block at a time.
constexpr size_t kFingerprintBlock = sizeof(core::RowFingerprint) * 8192;
}  // namespace

FingerprintFile::FingerprintFile(uint64_t max_rows) : max_rows_(max_rows) {
  guarded([&] { file_ = BufFileCreateTemp(false); });
}

FingerprintFile::~FingerprintFile() {
  // On an error the server is not called: the file is closed when the
  // (sub)transaction that fails releases its resources.
  if (std::uncaught_exceptions() > 0) return;
  try {
    close();
  } catch (...) {
    // (Closed with the transaction then.)
  }
}

void FingerprintFile::close() {
  if (file_ != nullptr) {
    ::BufFile* file = file_;
    file_ = nullptr;
    guarded([&] { BufFileClose(file); });
  }
}

void FingerprintFile::add(const core::RowFingerprint& f) {
  if (rows_ > max_rows_) return;
  ++rows_;
  buffer_.append(reinterpret_cast<const char*>(&f), sizeof f);
  if (buffer_.size() >= kFingerprintBlock) flush();
}

void FingerprintFile::flush() {
  if (buffer_.empty()) return;
  guarded([&] { BufFileWrite(file_, buffer_.data(), buffer_.size()); });
  buffer_.clear();
}

void FingerprintFile::read_into(core::TableRows& rows) {
  flush();
  guarded([&] {
    if (BufFileSeek(file_, 0, 0, SEEK_SET) != 0)
      ereport(ERROR, (errcode_for_file_access(), errmsg("could not seek in a temporary file of fingerprints")));
  });
  buffer_.resize(kFingerprintBlock);
  for (;;) {
    size_t got = 0;
    guarded([&] { got = BufFileRead(file_, buffer_.data(), buffer_.size()); });
    for (size_t at = 0; at + sizeof(core::RowFingerprint) <= got; at += sizeof(core::RowFingerprint)) {
      core::RowFingerprint f;
      memcpy(&f, buffer_.data() + at, sizeof f);
      rows.add(f);
    }
    if (got < buffer_.size()) break;
  }
  buffer_.clear();
  buffer_.shrink_to_fit();
  close();
}

}  // namespace ptb::pg
