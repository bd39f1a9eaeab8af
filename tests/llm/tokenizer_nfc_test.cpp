#include "llm/tokenizer_nfc.hpp"

#include <gtest/gtest.h>

namespace oap::detail {
namespace {

using Pos = std::optional<std::size_t>;

TEST(NfcQuickCheck, AcceptsTextThatIsAlreadyNfc) {
  EXPECT_EQ(first_nfc_unstable("plain ASCII 123"), Pos());
  EXPECT_EQ(first_nfc_unstable("caf\xC3\xA9 na\xC3\xAFve"), Pos());                   // precomposed
  EXPECT_EQ(first_nfc_unstable("\xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80"), Pos());  // CJK, emoji
  // Devanagari with a virama (combining class 9) is NFC.
  EXPECT_EQ(first_nfc_unstable(
                "\xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\xA8\xE0\xA5\x8D\xE0\xA4\xA6\xE0\xA5\x80"),
            Pos());
  EXPECT_EQ(first_nfc_unstable("bad \xFF bytes"), Pos());
}

TEST(NfcQuickCheck, FlagsTextNfcWouldChange) {
  EXPECT_EQ(first_nfc_unstable("cafe\xCC\x81"), Pos(4));   // e + U+0301 composes
  EXPECT_EQ(first_nfc_unstable("x\xE2\x84\xAB"), Pos(1));  // U+212B ANGSTROM SIGN -> U+00C5
  // U+0316 (class 220) after U+0301 (class 230) is out of canonical order.
  EXPECT_EQ(first_nfc_unstable("q\xCC\x81\xCC\x96"), Pos(1));         // U+0301 is "maybe" already
  EXPECT_EQ(first_nfc_unstable("\xE1\x84\x80\xE1\x85\xA1"), Pos(3));  // Hangul L + V jamo
}

}  // namespace
}  // namespace oap::detail
