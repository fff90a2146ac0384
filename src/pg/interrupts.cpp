#include "pg/interrupts.hpp"

#include "pg/guarded.hpp"

extern "C" {
#include "storage/latch.h"
#include "utils/wait_event.h"
}

namespace ptb::pg {

void pause_interruptibly(int milliseconds) {
  guarded([&] {
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, milliseconds, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
  });
}

}  // namespace ptb::pg
