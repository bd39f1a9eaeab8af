#pragma once
// Unicode NFC quick check, for tokenizer.json files whose normalizer is NFC (Qwen2). Private to
// the library.
//
// The library does not carry Unicode composition tables, so it cannot normalize; it can tell
// when a text is certainly already NFC (NFC is then the identity and encoding is exact), which
// is the case for almost all real text: ASCII, precomposed Latin, CJK, emoji, Devanagari,
// Arabic... Text that NFC might change (a decomposed "e" + U+0301, compatibility singletons
// such as U+212B ANGSTROM SIGN) is reported so the caller can refuse it rather than tokenize it
// differently from Hugging Face.
//
// tokenizer_nfc.cpp's table was generated with:
//   python3 - <<'PY'
//   import unicodedata
//   no = {cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF
//         and unicodedata.normalize('NFC', chr(cp)) != chr(cp)}
//   maybe = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))   # Hangul V and T jamo
//   for cp in range(0x110000):                 # second halves of primary composites
//       d = unicodedata.decomposition(chr(cp)) if not 0xD800 <= cp <= 0xDFFF else ''
//       if d and not d.startswith('<') and len(d.split()) == 2:
//           a, b = (int(x, 16) for x in d.split())
//           if unicodedata.normalize('NFC', chr(a) + chr(b)) == chr(cp): maybe.add(b)
//   maybe -= no
//   # rows: runs of code points >= U+0300 with equal (combining class, 0 yes/1 no/2 maybe),
//   # leaving out (0, yes)
//   PY

#include <cstddef>
#include <optional>
#include <string_view>

namespace oap::detail {

// The byte offset of the first code point at which text may not be in NFC (NFC_Quick_Check No
// or Maybe, or combining marks out of canonical order), or nullopt if text is certainly NFC.
// Invalid UTF-8 bytes are passed over (they are encoded byte-level unchanged).
std::optional<std::size_t> first_nfc_unstable(std::string_view text);

}  // namespace oap::detail
