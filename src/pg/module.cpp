// Module entry: the magic block and _PG_init.
#include "pg/boundary.hpp"
#include "pg/server.hpp"
#include "pg/progress.hpp"
#include "pg/scheduler.hpp"
#include "pg/settings.hpp"

extern "C" {
PG_MODULE_MAGIC;

void _PG_init(void);
void _PG_init(void) {
  ptb::pg::entry([] {
    ptb::pg::define_settings();
    if (process_shared_preload_libraries_in_progress) {
      ptb::pg::progress::register_shared_memory();
      ptb::pg::register_scheduler();
    }
  });
}
}
