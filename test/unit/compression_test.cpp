#include "trickle_source.hpp"
#include "core/compression.hpp"

#include <gtest/gtest.h>
#include <zstd.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "core/error.hpp"

using namespace ptb::core;
using ptb::core::test_support::TrickleSource;

namespace {

// Records every chunk it is handed.
class ChunkSink : public Sink {
 public:
  void write(std::string_view bytes) override {
    data.append(bytes);
    chunks.push_back(bytes.size());
  }
  std::string data;
  std::vector<size_t> chunks;
};


// Text that compresses like a snapshot does (repetitive, not trivial).
std::string sample_text(size_t size, unsigned seed = 1) {
  std::mt19937 random(seed);
  std::string out;
  while (out.size() < size)
    out += "[" + std::to_string(random() % 100000) + ",\"customer " +
           std::to_string(random() % 1000) + "\",null,\"2025-01-02 01:04:05+00\"],";
  out.resize(size);
  return out;
}

// Bytes that do not compress.
std::string random_bytes(size_t size, unsigned seed = 2) {
  std::mt19937 random(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(random());
  return out;
}

std::string compress(std::string_view data, Compression compression = Compression::Zstd,
                     int level = 3) {
  StringSink sink;
  CompressingSink compressor(sink, compression, level);
  compressor.write(data);
  compressor.finish();
  return sink.data();
}

std::string read_all(Source& source, size_t chunk = 4096) {
  std::string out;
  std::vector<char> buffer(chunk);
  while (size_t n = source.read(buffer.data(), buffer.size())) out.append(buffer.data(), n);
  return out;
}

std::string decompress(std::string_view data, size_t chunk = 4096) {
  StringSource in(data);
  DecompressingSource source(in, Compression::Zstd);
  return read_all(source, chunk);
}

// Expects decompressing `data` to fail as corrupted.
void expect_corrupted(std::string_view data, const std::string& context) {
  try {
    decompress(data);
    ADD_FAILURE() << "no error for " << context;
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "XX001") << context;
    EXPECT_EQ(std::string(e.what()).rfind("snapshot file is corrupted: ", 0), 0u)
        << context << ": " << e.what();
  }
}

}  // namespace

TEST(CompressionNames, RoundTripAndRejectOthers) {
  EXPECT_EQ(to_string(Compression::None), "none");
  EXPECT_EQ(to_string(Compression::Zstd), "zstd");
  EXPECT_EQ(compression_from_string("none"), Compression::None);
  EXPECT_EQ(compression_from_string("zstd"), Compression::Zstd);
  EXPECT_EQ(compression_from_string("ZSTD"), std::nullopt);
  EXPECT_EQ(compression_from_string("gzip"), std::nullopt);
  EXPECT_EQ(compression_from_string(""), std::nullopt);
}

TEST(CompressionDetect, RecognizesTheZstdMagicOnly) {
  EXPECT_EQ(detect_compression(compress("x")), Compression::Zstd);
  EXPECT_EQ(detect_compression(std::string("\x28\xB5\x2F\xFD", 4)), Compression::Zstd);
  EXPECT_EQ(detect_compression(std::string("\x28\xB5\x2F", 3)), Compression::None);
  EXPECT_EQ(detect_compression("{\"format\""), Compression::None);
  EXPECT_EQ(detect_compression(""), Compression::None);
  EXPECT_EQ(detect_compression(std::string("\xFD\x2F\xB5\x28", 4)), Compression::None);
}

TEST(CompressionSink, RoundTripsSizesFromEmptyToMegabytes) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{100}, size_t{131072}, size_t{3'000'000}}) {
    std::string text = sample_text(size);
    std::string packed = compress(text);
    EXPECT_EQ(detect_compression(packed), Compression::Zstd) << size;
    EXPECT_EQ(decompress(packed), text) << size;
  }
  std::string noise = random_bytes(1'000'000);
  EXPECT_EQ(decompress(compress(noise)), noise);
}

TEST(CompressionSink, CountsBytesAndCompressesText) {
  ChunkSink out;
  CompressingSink sink(out, Compression::Zstd);
  std::string text = sample_text(1'000'000);
  for (size_t i = 0; i < text.size(); i += 777) sink.write(std::string_view(text).substr(i, 777));
  sink.finish();
  EXPECT_EQ(sink.bytes_in(), text.size());
  EXPECT_EQ(sink.bytes_out(), out.data.size());
  EXPECT_LT(sink.bytes_out(), text.size() / 3);
  EXPECT_EQ(decompress(out.data), text);
}

TEST(CompressionSink, HandsOutputOnInChunksOfAbout128KiB) {
  ChunkSink out;
  CompressingSink sink(out, Compression::Zstd, 1);
  std::string noise = random_bytes(2'000'000);  // output about as large as input
  for (size_t i = 0; i < noise.size(); i += 1000)
    sink.write(std::string_view(noise).substr(i, 1000));
  sink.finish();
  ASSERT_GE(out.chunks.size(), 10u);
  // Every chunk but the last is a full buffer: many small writes do not
  // become many small chunks.
  for (size_t i = 0; i + 1 < out.chunks.size(); ++i) {
    EXPECT_GE(out.chunks[i], 100u * 1024) << i;
    EXPECT_LE(out.chunks[i], 160u * 1024) << i;
  }
  EXPECT_EQ(decompress(out.data), noise);
}

TEST(CompressionSink, EmptyInputStillMakesAFrame) {
  std::string packed = compress("");
  EXPECT_FALSE(packed.empty());
  EXPECT_EQ(decompress(packed), "");
}

TEST(CompressionSink, NonePassesBytesThrough) {
  ChunkSink out;
  CompressingSink sink(out, Compression::None);
  sink.write("abc");
  sink.write("");
  sink.write("def");
  sink.finish();
  EXPECT_EQ(out.data, "abcdef");
  EXPECT_EQ(sink.bytes_in(), 6u);
  EXPECT_EQ(sink.bytes_out(), 6u);

  StringSource in("plain {\"json\": 1}");
  DecompressingSource source(in, Compression::None);
  EXPECT_EQ(read_all(source), "plain {\"json\": 1}");
}

TEST(CompressionSink, EveryLevelRoundTrips) {
  std::string text = sample_text(50'000);
  for (int level : {ZSTD_minCLevel(), -1, 0, 1, 3, 9, 19, 20, ZSTD_maxCLevel()})
    EXPECT_EQ(decompress(compress(text, Compression::Zstd, level)), text) << level;
}

TEST(CompressionSink, RefusesLevelsOutOfRange) {
  StringSink out;
  for (int level : {ZSTD_maxCLevel() + 1, ZSTD_minCLevel() - 1}) {
    try {
      CompressingSink sink(out, Compression::Zstd, level);
      ADD_FAILURE() << level;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "22023");
    }
  }
  // No compression, no level to check.
  CompressingSink plain(out, Compression::None, 1000);
}

TEST(CompressionSink, WriteAfterFinishIsAnError) {
  StringSink out;
  CompressingSink sink(out, Compression::Zstd);
  sink.write("x");
  sink.finish();
  sink.finish();  // a second finish changes nothing
  std::string done = out.data();
  try {
    sink.write("y");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "XX000");
  }
  EXPECT_EQ(out.data(), done);
}

TEST(CompressionSink, DestroyedWithoutFinishLeavesAnIncompleteFrame) {
  StringSink out;
  {
    CompressingSink sink(out, Compression::Zstd);
    sink.write(random_bytes(300'000));
  }  // must neither throw nor leak (checked under the sanitizers)
  expect_corrupted(out.data(), "unfinished frame");
}

TEST(CompressionSink, ErrorsOfTheOutputPassThrough) {
  // A full disk, say.
  struct FailingSink : Sink {
    void write(std::string_view) override { throw Error("53100", "disk full"); }
  } failing;
  CompressingSink sink(failing, Compression::Zstd);
  try {
    sink.write(random_bytes(500'000));
    sink.finish();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "53100");
  }
}

TEST(CompressionSource, ReadsWithTinyBuffersAndTricklingInput) {
  std::string text = sample_text(200'000);
  std::string packed = compress(text);
  EXPECT_EQ(decompress(packed, 1), text);
  EXPECT_EQ(decompress(packed, 7), text);
  TrickleSource trickle(packed, 3);
  DecompressingSource source(trickle, Compression::Zstd);
  EXPECT_EQ(read_all(source, 1000), text);
  // After the end, reads keep returning 0.
  char c;
  EXPECT_EQ(source.read(&c, 1), 0u);
}

TEST(CompressionSource, ReadsConcatenatedFrames) {
  std::string packed = compress("first,") + compress("") + compress("second");
  EXPECT_EQ(decompress(packed), "first,second");
}

TEST(CompressionSource, TruncationAtEveryByteIsCorruption) {
  std::string packed = compress(sample_text(3000));
  for (size_t length = 0; length < packed.size(); ++length)
    expect_corrupted(std::string_view(packed).substr(0, length),
                     "cut at " + std::to_string(length));
}

TEST(CompressionSource, TrailingGarbageIsCorruption) {
  std::string packed = compress(sample_text(3000));
  expect_corrupted(packed + "x", "one byte after the frame");
  expect_corrupted(packed + "{\"json\": true}", "text after the frame");
  expect_corrupted(packed + std::string("\x28\xB5\x2F\xFD", 4), "a lone magic number");
}

TEST(CompressionSource, DamagedBytesAreCorruption) {
  std::string text = sample_text(20'000);
  std::string packed = compress(text);
  // Damage is caught (the content checksum catches what still decodes) or
  // harmless (a header bit that changes nothing); never different content.
  size_t caught = 0, tried = 0;
  for (size_t i = 0; i < packed.size(); i += 7, ++tried) {
    std::string damaged = packed;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x40);
    try {
      EXPECT_EQ(decompress(damaged), text) << "damage at " << i;
    } catch (const Error& e) {
      EXPECT_EQ(e.sqlstate(), "XX001");
      ++caught;
    }
  }
  EXPECT_GE(caught, tried * 9 / 10);
  expect_corrupted("not zstd at all", "plain text");
  expect_corrupted("", "no input");
}

TEST(CompressionSource, RefusesFramesNeedingAHugeWindow) {
  // A frame whose header asks for a 128 MiB window: the reader refuses
  // rather than allocate it.
  ZSTD_CCtx* context = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, 27);
  std::string packed(ZSTD_compressBound(1000) + 64, '\0');
  std::string text = sample_text(1000);
  ZSTD_outBuffer out{packed.data(), packed.size(), 0};
  ZSTD_inBuffer in{text.data(), text.size(), 0};
  // Streaming with an unknown size keeps the large window in the header.
  ASSERT_FALSE(ZSTD_isError(ZSTD_compressStream2(context, &out, &in, ZSTD_e_continue)));
  ASSERT_EQ(ZSTD_compressStream2(context, &out, &in, ZSTD_e_end), 0u);
  ZSTD_freeCCtx(context);
  packed.resize(out.pos);
  expect_corrupted(packed, "huge window");
}

TEST(CompressionSource, MemoryStaysFixedWhateverTheOutputSize) {
  // 256 MiB of output from a stream that is never held whole: both sides
  // work through fixed buffers.
  class ZeroSource : public Source {
   public:
    explicit ZeroSource(size_t size) : left_(size) {}
    size_t read(char* buf, size_t capacity) override {
      size_t n = std::min(capacity, left_);
      std::fill_n(buf, n, '\0');
      left_ -= n;
      return n;
    }

   private:
    size_t left_;
  };
  const size_t size = size_t{256} << 20;
  StringSink packed;
  {
    CompressingSink sink(packed, Compression::Zstd, 1);
    ZeroSource zeros(size);
    std::vector<char> chunk(1 << 20);
    while (size_t n = zeros.read(chunk.data(), chunk.size())) sink.write({chunk.data(), n});
    sink.finish();
  }
  EXPECT_LT(packed.data().size(), size_t{1} << 20);
  StringSource in(packed.data());
  DecompressingSource source(in, Compression::Zstd);
  std::vector<char> buffer(64 * 1024);
  size_t total = 0;
  bool all_zero = true;
  while (size_t n = source.read(buffer.data(), buffer.size())) {
    total += n;
    all_zero =
        all_zero && std::all_of(buffer.begin(), buffer.begin() + n, [](char c) { return c == 0; });
  }
  EXPECT_EQ(total, size);
  EXPECT_TRUE(all_zero);
}

TEST(CompressionSource, ErrorsOfTheInputPassThrough) {
  struct FailingSource : Source {
    size_t read(char*, size_t) override { throw Error("58030", "could not read file"); }
  } failing;
  DecompressingSource source(failing, Compression::Zstd);
  char buffer[16];
  try {
    source.read(buffer, sizeof buffer);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.sqlstate(), "58030");
  }
}

TEST(CompressionSource, StringSourceReadsInPieces) {
  StringSource source("abcdefg");
  char buffer[3];
  EXPECT_EQ(source.read(buffer, 3), 3u);
  EXPECT_EQ(std::string(buffer, 3), "abc");
  EXPECT_EQ(source.read(buffer, 0), 0u);
  EXPECT_EQ(source.read(buffer, 3), 3u);
  EXPECT_EQ(source.read(buffer, 3), 1u);
  EXPECT_EQ(buffer[0], 'g');
  EXPECT_EQ(source.read(buffer, 3), 0u);
}
