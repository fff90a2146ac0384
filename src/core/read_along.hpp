// A Sink that passes what is written to it on to another sink and lets a
// reader, on a thread of its own, read the same bytes as a Source while
// they are written: a file can be decoded and checked as it is produced,
// instead of being read back after. The reader must be pure C++ (no server
// call) and must not share unsynchronized state with the writer.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "core/compression.hpp"
#include "core/json_writer.hpp"

namespace ptb::core {

class ReadAlongSink : public Sink {
 public:
  using Reader = std::function<void(Source& written)>;
  // `reader` starts at once on its thread (with every signal blocked, so
  // the process's signal handlers keep running on the writing thread).
  // Writes wait while more than `max_queued` bytes wait for the reader:
  // memory stays bounded whatever the reader's speed.
  ReadAlongSink(Sink& out, Reader reader, size_t max_queued = 4 << 20);
  // Without finish(): stops the reader (its reads throw) and waits for it.
  // Never throws.
  ~ReadAlongSink() override;
  ReadAlongSink(const ReadAlongSink&) = delete;
  ReadAlongSink& operator=(const ReadAlongSink&) = delete;

  // Hands the bytes to `out`, then queues them for the reader. Throws what
  // the reader threw, as soon as it is known.
  void write(std::string_view bytes) override;
  // Ends the input, waits for the reader, and rethrows what it threw.
  // Throws Error(XX001) when it returned before the end of the input:
  // what it did not read was not checked.
  void finish();

 private:
  class Queue;
  void run(Reader reader);
  void stop();

  Sink& out_;
  size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> chunks_;
  size_t queued_ = 0;
  size_t front_pos_ = 0;  // bytes of chunks_.front() already read
  bool input_ended_ = false;
  bool stopping_ = false;
  bool reader_done_ = false;
  bool reader_saw_end_ = false;
  std::exception_ptr reader_error_;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace ptb::core
