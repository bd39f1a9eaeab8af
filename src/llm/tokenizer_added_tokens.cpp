#include "llm/tokenizer_added_tokens.hpp"

#include <algorithm>
#include <cctype>

namespace oap::detail {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool is_word_byte(char c) {
  auto b = static_cast<unsigned char>(c);
  return b >= 0x80 || std::isalnum(b) || c == '_';
}

}  // namespace

void AddedTokenMatcher::add(const AddedToken& token) {
  if (token.content.empty()) return;
  auto& list = by_first_byte_[static_cast<unsigned char>(token.content[0])];
  // Longest first; among equal lengths, the earlier token first.
  auto at = std::find_if(list.begin(), list.end(), [&](const AddedToken* t) {
    return t->content.size() < token.content.size();
  });
  list.insert(at, &token);
  ++count_;
}

const AddedToken* AddedTokenMatcher::match(std::string_view text, std::size_t pos) const {
  for (const AddedToken* t : by_first_byte_[static_cast<unsigned char>(text[pos])]) {
    if (text.compare(pos, t->content.size(), t->content) != 0) continue;
    if (t->single_word) {
      std::size_t end = pos + t->content.size();
      if ((pos > 0 && is_word_byte(text[pos - 1])) ||
          (end < text.size() && is_word_byte(text[end]))) {
        continue;
      }
    }
    return t;
  }
  return nullptr;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<Piece>& pieces) const {
  if (count_ == 0) {
    if (!text.empty()) pieces.push_back({0, text.size(), nullptr});
    return;
  }
  std::size_t segment_start = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken* t = match(text, pos);
    if (!t) {
      ++pos;
      continue;
    }
    std::size_t begin = pos, end = pos + t->content.size();
    if (t->lstrip) {
      while (begin > segment_start && is_space(text[begin - 1])) --begin;
    }
    if (t->rstrip) {
      while (end < text.size() && is_space(text[end])) ++end;
    }
    if (begin > segment_start) pieces.push_back({segment_start, begin, nullptr});
    pieces.push_back({begin, end, t});
    segment_start = pos = end;
  }
  if (segment_start < text.size()) pieces.push_back({segment_start, text.size(), nullptr});
}

}  // namespace oap::detail
