#include "pg/subtransaction.hpp"

#include <cstring>

#include "pg/guarded.hpp"

extern "C" {
#include "access/xact.h"
#include "utils/resowner.h"
}

namespace ptb::pg {

namespace {

ErrorData* copy_error(const ErrorData* error, MemoryContext context) {
  ErrorData* copy = nullptr;
  guarded([&] {
    MemoryContext old = MemoryContextSwitchTo(context);
    copy = static_cast<ErrorData*>(palloc(sizeof(ErrorData)));
    memcpy(copy, error, sizeof(ErrorData));
    for (char** field : {&copy->message, &copy->detail, &copy->detail_log, &copy->hint,
                         &copy->context, &copy->backtrace, &copy->schema_name, &copy->table_name,
                         &copy->column_name, &copy->datatype_name, &copy->constraint_name,
                         &copy->internalquery})
      if (*field != nullptr) *field = pstrdup(*field);
    for (const char** field : {&copy->filename, &copy->funcname, &copy->domain, &copy->context_domain,
                               &copy->message_id})
      if (*field != nullptr) *field = pstrdup(*field);
    copy->assoc_context = context;
    MemoryContextSwitchTo(old);
  });
  return copy;
}

}  // namespace

SubtransactionFrame begin_subtransaction() {
  const SubtransactionFrame frame{CurrentMemoryContext, CurrentResourceOwner};
  guarded([&] {
    BeginInternalSubTransaction(nullptr);
    MemoryContextSwitchTo(frame.context);
  });
  return frame;
}

void end_subtransaction(const SubtransactionFrame& frame, bool keep) {
  guarded([&] {
    if (keep)
      ReleaseCurrentSubTransaction();
    else
      RollbackAndReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(frame.context);
    CurrentResourceOwner = frame.owner;
  });
}

ServerError error_outliving(const ServerError& error, const SubtransactionFrame& frame) {
  return ServerError(copy_error(error.data(), frame.context));
}

}  // namespace ptb::pg
