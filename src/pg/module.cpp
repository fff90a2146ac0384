// Module entry: the magic block and _PG_init.
#include "pg/boundary.hpp"
#include "pg/settings.hpp"

extern "C" {
PG_MODULE_MAGIC;

void _PG_init(void);
void _PG_init(void) {
  ptb::pg::entry([] { ptb::pg::define_settings(); });
}
}
