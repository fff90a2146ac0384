// The one SPI call that hands rows to a DestReceiver (pg/spi.hpp has the
// rest), and the memory such a receiver lives in: server files only, as
// their arguments are server types.
#pragma once

#include <string>
#include <vector>

#include "pg/guarded.hpp"
#include "pg/server.hpp"
#include "pg/spi.hpp"

extern "C" {
#include "tcop/dest.h"
}

namespace ptb::pg {

// Runs a read-only query whose rows go to `dest` (a streaming
// DestReceiver) instead of a materialized SPI_tuptable.
void run_streaming(const std::string& sql, const std::vector<TextValue>& params, DestReceiver* dest);

// A streaming receiver of type R (its first member `DestReceiver base`;
// `receiver_context` and `row_context` among the others), zeroed, in a
// memory context of its own: startup runs in the executor's per-query
// context, which is gone before the receiver is. `row_context` is for
// each row's work, reset after it. Freed by delete_streaming_receiver.
template <typename R>
R* new_streaming_receiver(bool (*receive)(TupleTableSlot*, DestReceiver*),
                          void (*startup)(DestReceiver*, int, TupleDesc)) {
  R* r = nullptr;
  guarded([&] {
    MemoryContext context =
        AllocSetContextCreate(CurrentMemoryContext, "pg_tenant_backup receiver", ALLOCSET_SMALL_SIZES);
    r = static_cast<R*>(MemoryContextAllocZero(context, sizeof(R)));
    r->receiver_context = context;
    r->base.receiveSlot = receive;
    r->base.rStartup = startup;
    r->base.rShutdown = [](DestReceiver*) {};
    r->base.rDestroy = [](DestReceiver*) {};
    r->base.mydest = DestNone;
    r->row_context = AllocSetContextCreate(context, "pg_tenant_backup row", ALLOCSET_DEFAULT_SIZES);
  });
  return r;
}

template <typename R>
void delete_streaming_receiver(R* r) {
  guarded([&] { MemoryContextDelete(r->receiver_context); });
}

}  // namespace ptb::pg
