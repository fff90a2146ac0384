#include "pg/subtransaction.hpp"

#include <cstring>

namespace ptb::pg {

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

}  // namespace ptb::pg
