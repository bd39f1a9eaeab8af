#include "llm/tokenizer_regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <memory>

#include "oap/core/error.hpp"

namespace oap::detail {
namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  int n = pcre2_get_error_message(code, buffer, sizeof(buffer));
  return n < 0 ? "PCRE2 error " + std::to_string(code)
               : std::string(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(n));
}

// Per-thread match state. The JIT stack is larger than PCRE2's 32 KiB default because patterns
// like \s+(?!\S) backtrack over whole whitespace runs; one per thread keeps Regex's const
// methods free of locks.
struct ThreadMatchState {
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  ThreadMatchState() {
    context = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    if (context && jit_stack) pcre2_jit_stack_assign(context, nullptr, jit_stack);
  }
  ~ThreadMatchState() {
    if (jit_stack) pcre2_jit_stack_free(jit_stack);
    if (context) pcre2_match_context_free(context);
  }
};

ThreadMatchState& thread_match_state() {
  thread_local ThreadMatchState state;
  return state;
}

struct MatchDataDeleter {
  void operator()(pcre2_match_data* md) const { pcre2_match_data_free(md); }
};

}  // namespace

Regex::Regex(std::string_view pattern, bool literal) : pattern_(pattern) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  // PCRE2 refuses UCP together with LITERAL (and a literal needs no character classes).
  uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern_.data()), pattern_.size(),
                                   options, &error_code, &error_offset, nullptr);
  OAP_CHECK(code != nullptr, InvalidArgument,
            "invalid regular expression /" + pattern_ + "/ at offset " +
                std::to_string(error_offset) + ": " + pcre2_message(error_code));
  code_ = code;
  // JIT is an optimisation only: without it (no JIT in this PCRE2 build) matching still works.
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void Regex::for_each_match(std::string_view text,
                           const std::function<void(std::size_t, std::size_t)>& on_match) const {
  auto* code = static_cast<pcre2_code*>(code_);
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> md(
      pcre2_match_data_create_from_pattern(code, nullptr));
  OAP_CHECK(md != nullptr, Error, "out of memory creating PCRE2 match data");
  auto& state = thread_match_state();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t offset = 0;
  while (offset <= text.size()) {
    int rc = pcre2_match(code, subject, text.size(), offset, 0, md.get(), state.context);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    OAP_CHECK(rc >= 0, InvalidArgument,
              "regular expression /" + pattern_ + "/ failed on a text of " +
                  std::to_string(text.size()) + " bytes: " + pcre2_message(rc));
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
    std::size_t begin = ov[0], end = ov[1];
    if (end > begin) {
      on_match(begin, end);
      offset = end;
    } else {
      // An empty match: step over one character (or one stray byte) and search again.
      offset = begin + 1;
      while (offset < text.size() && (static_cast<unsigned char>(text[offset]) & 0xC0) == 0x80) {
        ++offset;
      }
    }
  }
}

}  // namespace oap::detail
