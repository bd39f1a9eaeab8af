#pragma once
// Content hashes: a fast 128-bit fingerprint of byte streams, for content-derived ids (adapter
// versions) and integrity checks of stored files.
//
// Not cryptographic: it detects accidental change (a truncated, torn or bit-flipped file) and
// makes accidental collisions between different contents vanishingly unlikely (about 2^-64 for
// a pair of inputs), but someone who wants to can construct two inputs with the same hash. Do
// not use it where an adversary chooses the bytes and a collision would matter. No hash library
// is among oap's dependencies, and the ids need no cryptographic strength.
//
// The value is part of oap's file formats: it is the same on every platform (bytes are read
// as little-endian 64-bit words) and must not change between releases.

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace oap {

// An incremental hasher: feed bytes with update() in any chunking, read the hash with hex() or
// digest() (both leave the state as it is, so more bytes may follow). Feeding the same bytes
// gives the same hash however they are split. Two 64-bit lanes absorb the input as little-endian
// 8-byte words, alternately, with multiply/rotate rounds and a cross term; a final avalanche
// mixes the lanes with the length.
// A value type; not thread-safe (one hasher per thread).
class ContentHasher {
 public:
  ContentHasher() = default;

  void update(const void* data, std::size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }

  // The 128-bit hash of everything fed so far: two 64-bit words, {high, low}.
  std::array<std::uint64_t, 2> digest() const;
  // digest() as 32 lowercase hex digits, high word first.
  std::string hex() const;

  // Bytes fed so far.
  std::uint64_t size() const { return length_; }

 private:
  std::uint64_t a_ = 0x243f6a8885a308d3ULL;  // lane seeds: digits of pi
  std::uint64_t b_ = 0x13198a2e03707344ULL;
  std::uint64_t length_ = 0;
  std::array<unsigned char, 16> pending_{};  // bytes of an unfinished 16-byte block
  std::size_t pending_size_ = 0;
};

// ContentHasher hex of bytes.
std::string content_hash(std::string_view bytes);

// ContentHasher hex of the file's bytes. Throws IoError naming the path if it cannot be read.
std::string file_content_hash(const std::filesystem::path& path);

}  // namespace oap
