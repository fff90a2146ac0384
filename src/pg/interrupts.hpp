// Waiting inside a call, for logic files.
#pragma once

namespace ptb::pg {

// Sleeps up to `milliseconds` on the backend's latch, then ends the
// statement (a thrown ServerError, so destructors run) if it was cancelled
// or the backend was told to stop; the backend exits if the server died.
void pause_interruptibly(int milliseconds);

}  // namespace ptb::pg
