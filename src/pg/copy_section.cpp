#include "pg/copy_section.hpp"

#include "pg/copy_feed.hpp"
#include "pg/guarded.hpp"
#include "pg/spilled_rows.hpp"

extern "C" {
#include "access/table.h"
#include "access/xact.h"
#include "commands/copy.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
}

namespace ptb::pg {

namespace {

void set_up(CopyFeed& feed, const SectionCopy& copy, const SpilledRows& rows) {
  if (copy.section->spilled) feed.spill.emplace(rows.file(), *copy.section->spilled);
  feed.row_count = copy.section->row_count;
  feed.positions = copy.positions;
  feed.encodings = copy.encodings;
  feed.column_names = copy.columns;
  feed.table = copy.table;
}

}  // namespace

void for_each_copy_line(const SectionCopy& copy, const SpilledRows& rows,
                        const std::function<void(std::string_view line)>& visit) {
  CopyFeed feed;
  set_up(feed, copy, rows);
  for (uint32 r = 0; r < feed.row_count; ++r) {
    if (r % 4096 == 0) guarded([] { CHECK_FOR_INTERRUPTS(); });
    feed.buffer.clear();
    append_copy_line(feed, feed.spill->next_row(), r);
    visit(feed.buffer);
  }
}

uint64_t copy_section(const SectionCopy& copy, const SpilledRows& rows, Oid into, uint64_t* left_out) {
  CopyFeed feed;
  set_up(feed, copy, rows);
  feed.leave_out = copy.leave_out;
  feed.part = copy.part;
  feed.key_fields = copy.key_fields;
  const std::string context = copy.table + " (" + copy.section->where() + ")";
  uint64 copied = 0;
  current_feed = &feed;
  try {
    guarded([&] {
      ErrorContextCallback callback;
      callback.callback = ptb_copy_error_context;
      callback.arg = const_cast<char*>(context.c_str());
      callback.previous = error_context_stack;
      error_context_stack = &callback;
      CommandCounterIncrement();  // a staging table just made is visible
      Relation rel = table_open(into, RowExclusiveLock);
      List* columns = NIL;
      for (const auto& c : copy.columns) columns = lappend(columns, makeString(pstrdup(c.c_str())));
      // The document is in the server encoding: no conversion.
      List* options =
          list_make2(makeDefElem(pstrdup("format"), (Node*)makeString(pstrdup("text")), -1),
                     makeDefElem(pstrdup("encoding"),
                                 (Node*)makeString(pstrdup(GetDatabaseEncodingName())), -1));
      // CopyFrom finds the relation in the range table BeginCopyFrom takes
      // from the parse state, as DoCopy sets it up.
      ParseState* pstate = make_parsestate(nullptr);
      (void)addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock, nullptr, false, false);
      CopyFromState cstate =
          BeginCopyFrom(pstate, rel, nullptr, nullptr, false, ptb_copy_feed_read, columns, options);
      copied = CopyFrom(cstate);
      EndCopyFrom(cstate);
      free_parsestate(pstate);
      table_close(rel, NoLock);
      error_context_stack = callback.previous;
      CommandCounterIncrement();
    });
  } catch (...) {
    current_feed = nullptr;
    throw;
  }
  current_feed = nullptr;
  if (left_out != nullptr) *left_out = feed.left_out;
  return copied;
}

}  // namespace ptb::pg
