#include "oap/core/content_hash.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <vector>

#include "oap/core/error.hpp"

namespace oap {
namespace {

// Odd 64-bit constants with well-spread bits (the golden ratio and the multipliers of common
// 64-bit mixers).
constexpr std::uint64_t kMul1 = 0x9e3779b97f4a7c15ULL;
constexpr std::uint64_t kMul2 = 0xc2b2ae3d27d4eb4fULL;
constexpr std::uint64_t kMul3 = 0x165667b19e3779f9ULL;
constexpr std::uint64_t kMul4 = 0x87c37b91114253d5ULL;

std::uint64_t load_le64(const unsigned char* p) {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
  return w;
}

// A bijective avalanche: every input bit affects every output bit.
std::uint64_t avalanche(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// One 16-byte block: the first word into lane a, the second into lane b, then b takes in a.
// For fixed words the step is a bijection of the state (a, b), and for a fixed state it is
// injective in each word, so inputs of equal length that differ in one word (e.g. one flipped
// bit) always hash differently, not merely with high probability; the cross term carries a
// difference in lane a into lane b too. The lanes use different multipliers, rotations and
// combining operations so that they are not correlated. Two independent chains per block keep
// the multiplier busy (GB/s; bench/core_bench.cpp).
void absorb_block(std::uint64_t& a, std::uint64_t& b, std::uint64_t w0, std::uint64_t w1) {
  a = std::rotl(a ^ (w0 * kMul1), 29) * kMul2;
  b = std::rotl(b + (w1 * kMul3), 35) * kMul4;
  b += a;
}

}  // namespace

void ContentHasher::update(const void* data, std::size_t size) {
  auto p = static_cast<const unsigned char*>(data);
  length_ += size;
  if (pending_size_ > 0) {
    std::size_t take = std::min(size, pending_.size() - pending_size_);
    std::memcpy(pending_.data() + pending_size_, p, take);
    pending_size_ += take;
    p += take;
    size -= take;
    if (pending_size_ < pending_.size()) return;
    absorb_block(a_, b_, load_le64(pending_.data()), load_le64(pending_.data() + 8));
    pending_size_ = 0;
  }
  // The lanes live in locals here: stored in members, the compiler would have to write them
  // back after every block, since p may alias them.
  std::uint64_t a = a_, b = b_;
  for (; size >= 16; p += 16, size -= 16) absorb_block(a, b, load_le64(p), load_le64(p + 8));
  a_ = a;
  b_ = b;
  std::memcpy(pending_.data(), p, size);
  pending_size_ = size;
}

std::array<std::uint64_t, 2> ContentHasher::digest() const {
  std::uint64_t a = a_, b = b_;
  if (pending_size_ > 0) {
    // The last 1..15 bytes, zero-padded to a block.
    std::array<unsigned char, 16> last{};
    std::memcpy(last.data(), pending_.data(), pending_size_);
    absorb_block(a, b, load_le64(last.data()), load_le64(last.data() + 8));
  }
  // The length separates inputs that differ only by trailing zero bytes.
  a ^= length_;
  b ^= std::rotl(length_ * kMul1, 32);
  // Two rounds of avalanche and cross-mixing, each a bijection of (a, b): one round leaves a
  // measurable bias on inputs of a few bytes.
  for (int round = 0; round < 2; ++round) {
    a += b;
    b += a;
    a = avalanche(a);
    b = avalanche(b);
  }
  a += b;
  b += a;
  return {b, a};
}

std::string ContentHasher::hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(32, '0');
  auto d = digest();
  for (int w = 0; w < 2; ++w) {
    for (int i = 0; i < 16; ++i) {
      out[w * 16 + i] = kDigits[(d[w] >> (60 - 4 * i)) & 0xF];
    }
  }
  return out;
}

std::string content_hash(std::string_view bytes) {
  ContentHasher h;
  h.update(bytes);
  return h.hex();
}

std::string file_content_hash(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  OAP_CHECK(fd >= 0, IoError,
            "cannot open " + path.string() + " to hash it: " + std::strerror(errno));
  ContentHasher h;
  std::vector<unsigned char> buffer(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      OAP_THROW(IoError, "cannot read " + path.string() + " to hash it: " + std::strerror(err));
    }
    if (n == 0) break;
    h.update(buffer.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return h.hex();
}

}  // namespace oap
