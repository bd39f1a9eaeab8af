#pragma once
// A compiled PCRE2 regular expression with Unicode classes, as tokenizer.json pre-tokenizers
// use them. Private to the library.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace oap::detail {

// One compiled pattern (UTF + UCP, JIT-compiled when the PCRE2 build has a JIT).
// Thread safety: const methods are safe from many threads at once (per-thread match state).
// Invalid UTF-8 in a subject is allowed (PCRE2_MATCH_INVALID_UTF): such bytes never match
// anything, so they fall between matches.
class Regex {
 public:
  // literal: match pattern as plain text. Throws InvalidArgument with PCRE2's message and the
  // offset of the error in the pattern.
  Regex(std::string_view pattern, bool literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls on_match(begin, end) (byte offsets) for each non-empty, non-overlapping match, left to
  // right. Throws InvalidArgument if PCRE2 gives up (match or JIT stack limit).
  void for_each_match(std::string_view text,
                      const std::function<void(std::size_t, std::size_t)>& on_match) const;

  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*, kept opaque so pcre2.h stays out of this header
  bool jit_ = false;
};

}  // namespace oap::detail
