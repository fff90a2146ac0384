#include "core/read_along.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>

#include "core/error.hpp"

namespace ptb::core {

namespace {

// Thrown into the reader when the writer gives up: unwinds it.
struct ReaderStopped {};

}  // namespace

// What the reader reads: the queued chunks, in order.
class ReadAlongSink::Queue : public Source {
 public:
  explicit Queue(ReadAlongSink& sink) : sink_(sink) {}
  size_t read(char* buf, size_t capacity) override {
    if (capacity == 0) return 0;
    std::unique_lock lock(sink_.mutex_);
    sink_.changed_.wait(lock, [&] {
      return sink_.stopping_ || !sink_.chunks_.empty() || sink_.input_ended_;
    });
    if (sink_.stopping_) throw ReaderStopped{};
    if (sink_.chunks_.empty()) {
      sink_.reader_saw_end_ = true;
      return 0;
    }
    const std::string& chunk = sink_.chunks_.front();
    size_t n = std::min(capacity, chunk.size() - sink_.front_pos_);
    std::memcpy(buf, chunk.data() + sink_.front_pos_, n);
    sink_.front_pos_ += n;
    if (sink_.front_pos_ == chunk.size()) {
      sink_.queued_ -= chunk.size();
      sink_.chunks_.pop_front();
      sink_.front_pos_ = 0;
      sink_.changed_.notify_all();
    }
    return n;
  }

 private:
  ReadAlongSink& sink_;
};

ReadAlongSink::ReadAlongSink(Sink& out, Reader reader, size_t max_queued)
    : out_(out), max_queued_(std::max<size_t>(max_queued, 1)) {
  // The new thread inherits the creator's signal mask: block everything
  // while it is created, so no signal is ever delivered to it.
  // (<csignal> declares POSIX's pthread_sigmask on the platforms we build on.)
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  try {
    thread_ = std::thread([this, reader = std::move(reader)]() mutable { run(std::move(reader)); });
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    throw Error(sqlstate::kInternalError, "could not start a thread to check the written bytes");
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

void ReadAlongSink::run(Reader reader) {
  std::exception_ptr error;
  try {
    Queue queue(*this);
    reader(queue);
  } catch (const ReaderStopped&) {
  } catch (...) {
    error = std::current_exception();
  }
  std::lock_guard lock(mutex_);
  reader_done_ = true;
  reader_error_ = error;
  // What is left will never be read: drop it so writes do not wait.
  chunks_.clear();
  queued_ = 0;
  front_pos_ = 0;
  changed_.notify_all();
}

void ReadAlongSink::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    changed_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

ReadAlongSink::~ReadAlongSink() { stop(); }

void ReadAlongSink::write(std::string_view bytes) {
  if (finished_)
    throw Error(sqlstate::kInternalError, "write to a checked file after its end");
  out_.write(bytes);
  if (bytes.empty()) return;
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return reader_done_ || queued_ < max_queued_; });
  if (reader_done_) {
    if (reader_error_) std::rethrow_exception(reader_error_);
    return;  // finish() reports a reader that stopped early
  }
  chunks_.emplace_back(bytes);
  queued_ += bytes.size();
  changed_.notify_all();
}

void ReadAlongSink::finish() {
  if (finished_) return;
  finished_ = true;
  {
    std::lock_guard lock(mutex_);
    input_ended_ = true;
    changed_.notify_all();
  }
  thread_.join();
  if (reader_error_) std::rethrow_exception(reader_error_);
  if (!reader_saw_end_)
    throw Error(sqlstate::kDataCorrupted, "the check of the written bytes stopped before their end");
}

}  // namespace ptb::core
