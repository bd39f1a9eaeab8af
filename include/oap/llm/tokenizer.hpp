#pragma once
// Tokenizer: the text <-> token-id codec of a language model, loaded from a Hugging Face model
// directory (tokenizer.json: byte-level BPE or BPE converted from SentencePiece) or a
// SentencePiece tokenizer.model.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace oap {

// A text <-> token-id codec. Immutable after load: const methods are safe to call from many
// threads at once (an internal cache of encoded words is guarded by its own mutex).
// The factories return an owning pointer; the tokenizer owns all its tables.
//
// Text is a byte string, normally UTF-8 (Hugging Face's tokenizers only ever see valid UTF-8).
// Behaviour on invalid UTF-8 depends on the kind:
//  - byte-level BPE (tokenizer.json): invalid bytes never take part in a pre-tokenizer regex
//    match; each run of them becomes a pre-token of its own and is encoded byte by byte, so
//    decode(encode(text)) == text for every byte string.
//  - BPE converted from SentencePiece (tokenizer.json with byte_fallback): each invalid byte is
//    encoded as its "<0xNN>" token (or unk_token without byte fallback), so with byte fallback
//    the round trip is exact too, up to the leading space the decoder's Strip removes.
//  - SentencePiece: the library maps invalid bytes to U+FFFD (unknown piece, or its bytes if the
//    model has byte_fallback); it never crashes, but the round trip is lossy for those bytes.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Loads tokenizer.json from a model directory, or tokenizer.model (SentencePiece) when there is
  // no tokenizer.json. tokenizer.json is preferred because it is what transformers' default (fast)
  // tokenizer runs: it carries the normalizer, the added tokens and the post-processor, and
  // loads without the SentencePiece plugin. Throws IoError if neither exists, ParseError or
  // ConfigError as the factory below.
  static std::unique_ptr<Tokenizer> load(const std::filesystem::path& model_dir);
  // A Hugging Face tokenizer.json with a BPE model: byte-level (GPT-2, Llama-3, Qwen2) or
  // converted from SentencePiece (Llama-2, Mistral, TinyLlama, Gemma: byte_fallback to <0xNN>
  // tokens, unk_token with fuse_unk). Pieces implemented as Hugging Face tokenizers defines
  // them: normalizers Sequence, Prepend, Replace (String or Regex), NFC (encode() refuses, with
  // InvalidArgument, text that NFC could change, since composition itself is not implemented);
  // pre-tokenizers Sequence, Split, ByteLevel, Digits, Metaspace (prepend_scheme always / first /
  // never, split); decoders Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace;
  // post-processors TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence.
  // If a tokenizer_config.json lies beside it, its bos_token / eos_token name bos_id() /
  // eos_id() (otherwise the post-processor's template, then well-known names: <|begin_of_text|>,
  // <s>; <|end_of_text|>, <|endoftext|>, </s>), and its add_bos_token / add_eos_token decide
  // what encode(text, true) adds, as transformers' Llama and Gemma tokenizers do; its legacy
  // flag changes nothing (as in transformers' fast tokenizers, tokenizer.json already encodes
  // it). Throws IoError (unreadable), ConfigError naming the file, line and column (not valid
  // JSON, as load_json_file), ParseError naming the field of a malformed file (bad id,
  // bad merge, wrong JSON type), ConfigError naming the component and value of a well-formed
  // but unsupported one (model.type "Unigram", normalizer "NFKC", decoder "WordPiece", ...).
  static std::unique_ptr<Tokenizer> from_json_file(const std::filesystem::path& tokenizer_json);
  // A SentencePiece model file (Llama-2, Mistral, T5 style). SentencePiece runs in a plugin,
  // liboap_sentencepiece.so, that the first call loads in isolation from LibTorch (whose
  // protobuf clashes with libsentencepiece's); it is looked for next to liboap.so, or at the
  // path in the environment variable OAP_SENTENCEPIECE_PLUGIN if that is set (read until the
  // plugin has loaded once). Throws IoError if the model cannot be loaded (file name and
  // SentencePiece's reason) or the plugin is missing or unloadable (where it looked, dlerror),
  // ConfigError if the plugin is not one this liboap can use, or if oap was built without
  // SentencePiece (no libsentencepiece-dev, or OAP_WITH_SENTENCEPIECE=OFF).
  static std::unique_ptr<Tokenizer> from_sentencepiece_file(const std::filesystem::path& model);

  // Token ids of text. add_special: add the tokenizer's configured BOS/EOS tokens, as its
  // post-processor does (tokenizer.json) or BOS (SentencePiece). Added/special tokens written
  // literally in text ("<|im_start|>") are always recognised as single tokens.
  virtual std::vector<std::int32_t> encode(std::string_view text,
                                           bool add_special = false) const = 0;
  // The text of ids, through the tokenizer's decoder (tokenizer.json) or SentencePiece.
  // skip_special: leave out special tokens (before the decoder runs, as Hugging Face does).
  // The result can be invalid UTF-8 when ids cut a multi-byte character (as a streaming
  // generator does, and as "<0xNN>" byte tokens can); the bytes are returned as they are, where
  // Hugging Face would write U+FFFD.
  // Throws InvalidArgument for an id outside [0, vocab_size()).
  virtual std::string decode(std::span<const std::int32_t> ids,
                             bool skip_special = false) const = 0;
  // Number of ids, added tokens included (one more than the largest id).
  virtual std::size_t vocab_size() const = 0;
  // The id of a token as the vocabulary spells it ("Ġthe" in byte-level BPE, "▁the" in
  // SentencePiece, "<|im_end|>"), or nullopt.
  virtual std::optional<std::int32_t> token_to_id(std::string_view token) const = 0;
  virtual std::optional<std::int32_t> bos_id() const = 0;
  virtual std::optional<std::int32_t> eos_id() const = 0;
};

// Builds a byte-level BPE tokenizer (GPT-2/Llama-3 style: ByteLevel pre-tokenizer with the
// Llama-3 split regex, 256 byte tokens + learned merges, special tokens appended) by training
// merges on corpus until vocab_size (special tokens included) or until no adjacent pair is
// left, and writes a Hugging Face tokenizer.json to out (temp file + rename).
// Byte b gets id b; merges follow in the order learned; special tokens get the last ids.
// Deterministic for the same inputs: the most frequent pair wins, ties go to the pair whose
// (left id, right id) is smallest. Pair counts are updated incrementally (only the words that
// hold the merged pair are visited): 49 MB of English text (215k documents) trains 8192 tokens
// in about 30 s and 360 MB of memory (`oap train-tokenizer`, scripts/make_base_model.sh).
// Throws InvalidArgument if vocab_size < 256 + special_tokens.size() or a special token is
// empty or repeated; IoError if out cannot be written.
void write_byte_level_bpe_tokenizer(const std::vector<std::string>& corpus, std::size_t vocab_size,
                                    const std::vector<std::string>& special_tokens,
                                    const std::filesystem::path& out);

}  // namespace oap
