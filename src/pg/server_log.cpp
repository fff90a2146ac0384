#include "pg/server_log.hpp"

#include "pg/guarded.hpp"

namespace ptb::pg {

void report(const LogMessage& message) {
  const int level = message.level == LogLevel::Warning  ? WARNING
                    : message.level == LogLevel::Notice ? NOTICE
                                                        : LOG;
  guarded([&] {
    ereport(level, (errmsg_internal("%s", message.message.c_str()),
                    message.detail.empty() ? 0 : errdetail_internal("%s", message.detail.c_str()),
                    message.hint.empty() ? 0 : errhint("%s", message.hint.c_str())));
  });
}

}  // namespace ptb::pg
