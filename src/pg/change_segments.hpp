// Change segment files (docs/pitr.md): where a recorded segment's file is,
// and their retention. The capture worker (capture.cpp) writes them,
// backup_restore_to (change_replay.cpp) reads them.
#pragma once

#include <cstdint>
#include <string>

namespace ptb::pg {

// The path of the file backup_change_segments.file_name names, checked
// first: the name must be one the capture worker writes
// ("<folder>/changes/<16 hex>-<16 hex>.jsonl.zst", XX001 otherwise) and
// the folder this database's (its marker; 58P01 when the folder is gone).
std::string segment_path(const std::string& file_name);

// Removes the segments no kept snapshot can need: those whose transactions
// are all older than the snapshot xmin of every completed or restored
// backup (a restore to a moment reads only segments at or above its
// snapshot's xmin). Nothing while no backup records its xmin. Rows first,
// committed autonomously, then the files: a crash between leaves files
// without rows, which the capture worker removes when it starts. Returns
// how many. Needs SPI and fix_output_settings.
int64_t prune_change_segments();

}  // namespace ptb::pg
