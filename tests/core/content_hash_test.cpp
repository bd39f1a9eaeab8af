#include "oap/core/content_hash.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

#include "oap/core/error.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

TEST(ContentHash, HexIs32LowercaseHexDigits) {
  EXPECT_THAT(content_hash(""), MatchesRegex("[0-9a-f]{32}"));
  EXPECT_THAT(content_hash("abc"), MatchesRegex("[0-9a-f]{32}"));
  EXPECT_NE(content_hash(""), content_hash("abc"));
}

// Regression constants: computed once from this implementation (when it was written) and fixed
// here, because content hashes are stored in files (adapter version ids, file hashes in
// manifests); any change to the algorithm shows up as a failure of this test.
TEST(ContentHash, FixedInputGivesFixedValue) {
  EXPECT_EQ(content_hash(""), "f58b557527e6444aeed3bb4b7438fe2d");
  EXPECT_EQ(content_hash("The quick brown fox jumps over the lazy dog"),
            "9b0449301e7dea8d77f51b8e0e3b623e");
  std::string bytes(1000, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7 + 3);
  EXPECT_EQ(content_hash(bytes), "fa5883fc5c3998723320bf141680903d");
}

TEST(ContentHash, StreamingInAnyChunkingEqualsOneShot) {
  std::string data = random_bytes(1000, 1);
  std::string expected = content_hash(data);
  // Every fixed chunk size from 1 to 40 bytes.
  for (std::size_t chunk = 1; chunk <= 40; ++chunk) {
    ContentHasher h;
    for (std::size_t i = 0; i < data.size(); i += chunk) {
      h.update(std::string_view(data).substr(i, chunk));
    }
    EXPECT_EQ(h.hex(), expected) << "chunk " << chunk;
    EXPECT_EQ(h.size(), data.size());
  }
  // Random chunkings, with empty updates mixed in.
  std::mt19937 rng(2);
  for (int round = 0; round < 200; ++round) {
    ContentHasher h;
    std::size_t i = 0;
    while (i < data.size()) {
      std::size_t n = std::min<std::size_t>(rng() % 37, data.size() - i);
      h.update(data.data() + i, n);
      i += n;
    }
    ASSERT_EQ(h.hex(), expected) << "round " << round;
  }
}

TEST(ContentHash, ReadingTheHashDoesNotChangeTheState) {
  ContentHasher h;
  h.update("hello, ");
  std::string partial = h.hex();
  EXPECT_EQ(partial, content_hash("hello, "));
  EXPECT_EQ(h.hex(), partial);
  h.update("world");
  EXPECT_EQ(h.hex(), content_hash("hello, world"));
}

TEST(ContentHash, EverySingleBitFlipChangesTheHash) {
  std::string data = random_bytes(1024, 3);
  std::set<std::string> seen{content_hash(data)};
  for (std::size_t bit = 0; bit < data.size() * 8; ++bit) {
    std::string flipped = data;
    flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
    ASSERT_TRUE(seen.insert(content_hash(flipped)).second) << "bit " << bit;
  }
  EXPECT_EQ(seen.size(), 1024u * 8 + 1);
}

TEST(ContentHash, AllLengthsGiveDistinctHashes) {
  // Zeros are the hard case: a longer input differs only by trailing zero bytes.
  for (const std::string& data : {std::string(256, '\0'), random_bytes(256, 4)}) {
    std::set<std::string> seen;
    for (std::size_t n = 0; n <= data.size(); ++n) {
      ASSERT_TRUE(seen.insert(content_hash(std::string_view(data).substr(0, n))).second)
          << "length " << n;
    }
  }
}

TEST(ContentHash, HighAndLowWordsBothChange) {
  // Each 64-bit half of the digest responds to a change on its own.
  auto d0 = ContentHasher().digest();
  ContentHasher h;
  h.update("x");
  auto d1 = h.digest();
  EXPECT_NE(d0[0], d1[0]);
  EXPECT_NE(d0[1], d1[1]);
}

TEST(ContentHash, FileHashEqualsHashOfItsBytes) {
  testing::TempDir dir;
  std::string data = random_bytes(3 << 20, 5);  // spans several read buffers
  testing::write_file(dir / "f.bin", data);
  EXPECT_EQ(file_content_hash(dir / "f.bin"), content_hash(data));
  testing::write_file(dir / "empty", "");
  EXPECT_EQ(file_content_hash(dir / "empty"), content_hash(""));
}

TEST(ContentHash, MissingFileIsAnIoErrorNamingIt) {
  testing::TempDir dir;
  try {
    file_content_hash(dir / "nope.bin");
    FAIL();
  } catch (const IoError& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir / "nope.bin").string()));
    EXPECT_THAT(e.what(), HasSubstr("No such file"));
  }
}

}  // namespace
}  // namespace oap
