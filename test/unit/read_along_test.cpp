#include "core/read_along.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/compression.hpp"
#include "core/error.hpp"

using namespace ptb::core;

namespace {

std::string text_of(size_t n) {
  std::mt19937 random(7);
  std::string s;
  while (s.size() < n) s += "row " + std::to_string(random() % 1000) + ",";
  s.resize(n);
  return s;
}

std::string read_all(Source& source) {
  std::string all;
  char buf[1000];
  for (size_t n; (n = source.read(buf, sizeof buf)) > 0;) all.append(buf, n);
  return all;
}

// Hands on what is written, with one byte flipped at `position`.
class FlippingSink : public Sink {
 public:
  FlippingSink(Sink& out, uint64_t position) : out_(out), position_(position) {}
  void write(std::string_view bytes) override {
    std::string copy(bytes);
    if (position_ >= seen_ && position_ < seen_ + copy.size()) copy[position_ - seen_] ^= 0x20;
    seen_ += copy.size();
    out_.write(copy);
  }

 private:
  Sink& out_;
  uint64_t position_;
  uint64_t seen_ = 0;
};

}  // namespace

TEST(ReadAlongSink, TheReaderSeesExactlyWhatTheFileGets) {
  const std::string text = text_of(3 << 20);
  StringSink file;
  std::string read;
  {
    // A small queue: the writer waits for the reader many times.
    ReadAlongSink checked(file, [&](Source& written) { read = read_all(written); }, 4096);
    for (size_t pos = 0; pos < text.size(); pos += 777) checked.write(std::string_view(text).substr(pos, 777));
    checked.finish();
  }
  EXPECT_EQ(file.data(), text);
  EXPECT_EQ(read, text);
}

TEST(ReadAlongSink, DecodingWhileWritingRoundTripsAZstdStream) {
  const std::string text = text_of(2 << 20);
  StringSink file;
  std::string decoded;
  ReadAlongSink checked(file, [&](Source& written) {
    DecompressingSource plain(written, Compression::Zstd);
    decoded = read_all(plain);
  });
  CompressingSink compressed(checked, Compression::Zstd, 1);
  compressed.write(text);
  compressed.finish();
  checked.finish();
  EXPECT_EQ(decoded, text);
  StringSource again(file.data());
  DecompressingSource plain(again, Compression::Zstd);
  EXPECT_EQ(read_all(plain), text);
}

TEST(ReadAlongSink, DecodingWhileWritingDetectsACorruptedByte) {
  const std::string text = text_of(1 << 20);
  for (uint64_t position : {uint64_t{100}, uint64_t{2000}, uint64_t{40000}}) {
    StringSink file;
    ReadAlongSink checked(file, [&](Source& written) {
      DecompressingSource plain(written, Compression::Zstd);
      (void)read_all(plain);
    });
    FlippingSink damaged(checked, position);
    CompressingSink compressed(damaged, Compression::Zstd, 1);
    try {
      compressed.write(text);
      compressed.finish();
      checked.finish();
      ADD_FAILURE() << "a flipped byte at " << position << " went unnoticed";
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "XX001") << e.what();
    }
  }
}

TEST(ReadAlongSink, AReaderErrorReachesTheWriterBeforeTheEnd) {
  StringSink file;
  ReadAlongSink checked(file, [](Source& written) {
    char buf[10];
    (void)written.read(buf, sizeof buf);
    throw Error("XX001", "bad bytes");
  }, 100);
  const std::string chunk(100, 'x');
  int writes = 0;
  try {
    for (; writes < 100000; ++writes) checked.write(chunk);
    checked.finish();
    ADD_FAILURE() << "the reader's error was lost";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "bad bytes");
  }
  EXPECT_LT(writes, 100000);
}

TEST(ReadAlongSink, AReaderThatStopsEarlyIsAnError) {
  StringSink file;
  ReadAlongSink checked(file, [](Source& written) {
    char buf[10];
    (void)written.read(buf, sizeof buf);
  });
  checked.write(std::string(1000, 'x'));
  try {
    checked.finish();
    ADD_FAILURE() << "the unread bytes went unnoticed";
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "XX001");
  }
}

TEST(ReadAlongSink, GivingUpStopsAReaderStillWaitingForInput) {
  StringSink file;
  bool reader_ended = false;
  {
    ReadAlongSink checked(file, [&](Source& written) {
      try {
        (void)read_all(written);
      } catch (...) {
        reader_ended = true;
        throw;
      }
    });
    checked.write("half a file");
  }  // no finish(): the writer failed
  EXPECT_TRUE(reader_ended);
  EXPECT_EQ(file.data(), "half a file");
}
