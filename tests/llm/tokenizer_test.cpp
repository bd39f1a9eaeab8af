// Tokenizer factories and the errors for malformed tokenizer.json files.
#include "oap/llm/tokenizer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "oap/core/error.hpp"
#include "oap/core/json_config.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

const std::filesystem::path kTiny =
    std::filesystem::path(OAP_TOKENIZER_TEST_DATA) / "tokenizer_tiny" / "tokenizer.json";

// Loads j written as tokenizer.json and returns the ParseError it raises (fails if none).
ParseError parse_error_of(const nlohmann::json& j) {
  testing::TempDir dir;
  testing::write_file(dir / "tokenizer.json", j.dump());
  try {
    Tokenizer::from_json_file(dir / "tokenizer.json");
  } catch (const ParseError& e) {
    return e;
  }
  ADD_FAILURE() << "expected a ParseError";
  return ParseError("", 0, "", "");
}

// Loads j written as tokenizer.json and returns the message of the ConfigError it raises, which a
// well-formed but unsupported setting gives (fails if none).
std::string config_error_of(const nlohmann::json& j) {
  testing::TempDir dir;
  testing::write_file(dir / "tokenizer.json", j.dump());
  try {
    Tokenizer::from_json_file(dir / "tokenizer.json");
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr((dir / "tokenizer.json").string()));
    return e.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

TEST(Tokenizer, LoadPrefersTokenizerJson) {
  testing::TempDir dir;
  std::filesystem::copy_file(kTiny, dir / "tokenizer.json");
  testing::write_file(dir / "tokenizer.model", "not a sentencepiece model");
  auto tok = Tokenizer::load(dir.path());
  EXPECT_EQ(tok->vocab_size(), 272u);
}

TEST(Tokenizer, LoadPrefersASentencePieceConvertedTokenizerJsonOverTokenizerModel) {
  // Llama-2/Mistral folders ship both; tokenizer.json is what transformers' fast tokenizer runs.
  testing::TempDir dir;
  const auto spm = std::filesystem::path(OAP_TOKENIZER_TEST_DATA) / "tokenizer_spm_tiny";
  std::filesystem::copy_file(spm / "tokenizer.json", dir / "tokenizer.json");
  testing::write_file(dir / "tokenizer.model", "not a sentencepiece model");
  auto tok = Tokenizer::load(dir.path());
  EXPECT_EQ(tok->vocab_size(), 283u);
  EXPECT_EQ(tok->encode("hello world"), (std::vector<std::int32_t>{276, 281}));
}

TEST(Tokenizer, LoadErrors) {
  testing::TempDir dir;
  EXPECT_THAT([&] { Tokenizer::load(dir.path()); },
              ::testing::ThrowsMessage<IoError>(AllOf(
                  HasSubstr("no tokenizer in"), HasSubstr("tokenizer.json or tokenizer.model"))));
  EXPECT_THAT([&] { Tokenizer::load(dir / "missing"); },
              ::testing::ThrowsMessage<IoError>(HasSubstr("does not exist")));
  testing::write_file(dir / "tokenizer.model", "garbage");
#if OAP_HAVE_SENTENCEPIECE
  EXPECT_THAT([&] { Tokenizer::load(dir.path()); },
              ::testing::ThrowsMessage<IoError>(HasSubstr("cannot load SentencePiece model")));
#else
  EXPECT_THAT([&] { Tokenizer::load(dir.path()); },
              ::testing::ThrowsMessage<ConfigError>(
                  HasSubstr("oap was built without SentencePiece support")));
#endif
}

TEST(Tokenizer, InvalidJsonNamesTheLine) {
  testing::TempDir dir;
  testing::write_file(dir / "tokenizer.json", "{\n \"model\": {\n  \"type\": \"BPE\",,\n}");
  // The one JSON file loader (load_json_file): a ConfigError naming file, line and column.
  EXPECT_THAT(
      [&] { Tokenizer::from_json_file(dir / "tokenizer.json"); },
      ::testing::ThrowsMessage<ConfigError>(
          AllOf(HasSubstr((dir / "tokenizer.json").string() + ":3:"), HasSubstr("invalid JSON"))));
}

TEST(Tokenizer, MissingModel) {
  auto j = load_json_file(kTiny);
  j.erase("model");
  auto e = parse_error_of(j);
  EXPECT_EQ(e.field(), "model");
  EXPECT_THAT(e.what(), HasSubstr("missing"));
}

TEST(Tokenizer, UnknownModelType) {
  auto j = load_json_file(kTiny);
  j["model"]["type"] = "Unigram";
  EXPECT_THAT(config_error_of(j), AllOf(HasSubstr("field 'model.type'"),
                                        HasSubstr("unsupported model type \"Unigram\"")));
  j["model"]["type"] = 3;
  EXPECT_EQ(parse_error_of(j).field(), "model.type");
}

TEST(Tokenizer, UnknownPreTokenizer) {
  auto j = load_json_file(kTiny);
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_THAT(config_error_of(j),
              AllOf(HasSubstr("field 'pre_tokenizer.type'"),
                    HasSubstr("unsupported pre-tokenizer type \"Whitespace\""),
                    HasSubstr("supported: Sequence, Split, ByteLevel, Digits, Metaspace")));
}

TEST(Tokenizer, UnsupportedComponentsNameTheComponentAndValue) {
  auto j = load_json_file(kTiny);
  j["normalizer"] = {{"type", "Lowercase"}};
  EXPECT_THAT(config_error_of(j), AllOf(HasSubstr("field 'normalizer.type'"),
                                        HasSubstr("unsupported normalizer \"Lowercase\"")));
  j["normalizer"] = {
      {"type", "Sequence"},
      {"normalizers", {{{"type", "Prepend"}, {"prepend", "x"}}, {{"type", "NFKC"}}}}};
  EXPECT_THAT(config_error_of(j), AllOf(HasSubstr("field 'normalizer.normalizers[1].type'"),
                                        HasSubstr("unsupported normalizer \"NFKC\"")));
  j["normalizer"] = nullptr;
  j["decoder"] = {{"type", "WordPiece"}};
  EXPECT_THAT(config_error_of(j), AllOf(HasSubstr("field 'decoder.type'"),
                                        HasSubstr("unsupported decoder \"WordPiece\"")));
  j["decoder"] = nullptr;
  j["model"]["continuing_subword_prefix"] = "##";
  EXPECT_THAT(config_error_of(j), AllOf(HasSubstr("field 'model.continuing_subword_prefix'"),
                                        HasSubstr("string \"##\"")));
  j["model"].erase("continuing_subword_prefix");
  j["post_processor"] = {{"type", "Magic"}};
  EXPECT_THAT(config_error_of(j), HasSubstr("unsupported post-processor \"Magic\""));
}

TEST(Tokenizer, MalformedComponentsAreParseErrors) {
  auto j = load_json_file(kTiny);
  j["normalizer"] = {{"type", "Replace"}, {"pattern", {{"Glob", "*"}}}, {"content", "x"}};
  auto e = parse_error_of(j);
  EXPECT_EQ(e.field(), "normalizer.pattern");
  EXPECT_THAT(e.what(), HasSubstr("expected {\"Regex\""));
  j["normalizer"] = {{"type", "Prepend"}};
  EXPECT_EQ(parse_error_of(j).field(), "normalizer.prepend");
  j["normalizer"] = nullptr;
  j["decoder"] = {{"type", "Strip"}, {"content", "ab"}, {"start", 1}, {"stop", 0}};
  EXPECT_THAT(parse_error_of(j).what(), HasSubstr("expected one character, got \"ab\""));
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders", {{{"type", "Strip"}, {"content", " "}, {"start", -1}}}}};
  EXPECT_EQ(parse_error_of(j).field(), "decoder.decoders[0].start");
}

TEST(Tokenizer, BadMergeEntries) {
  auto j = load_json_file(kTiny);
  j["model"]["merges"][3] = "hello";
  auto e = parse_error_of(j);
  EXPECT_EQ(e.field(), "model.merges[3]");
  EXPECT_THAT(e.what(), HasSubstr("expected \"left right\""));

  j = load_json_file(kTiny);
  j["model"]["merges"][2] = 42;
  EXPECT_THAT(parse_error_of(j).what(), HasSubstr("got number 42"));

  j = load_json_file(kTiny);
  j["model"]["merges"][1] = {"l"};
  EXPECT_EQ(parse_error_of(j).field(), "model.merges[1]");

  j = load_json_file(kTiny);
  j["model"]["merges"] = "h e";
  EXPECT_THAT(parse_error_of(j).what(), HasSubstr("model.merges': expected an array"));
}

TEST(Tokenizer, MergeWithUnknownToken) {
  auto j = load_json_file(kTiny);
  j["model"]["merges"][4] = "zz q";
  auto e = parse_error_of(j);
  EXPECT_EQ(e.field(), "model.merges[4]");
  EXPECT_THAT(e.what(), HasSubstr("token \"zz\" is not in model.vocab"));
  // Both halves known, but their concatenation is not a token.
  j["model"]["merges"][4] = "x y";
  EXPECT_THAT(parse_error_of(j).what(), HasSubstr("token \"xy\" is not in model.vocab"));
}

TEST(Tokenizer, WrongTypes) {
  auto j = load_json_file(kTiny);
  j["model"]["vocab"]["he"] = "256";
  auto e = parse_error_of(j);
  EXPECT_EQ(e.field(), "model.vocab[\"he\"]");
  EXPECT_THAT(e.what(), HasSubstr("expected a non-negative 32-bit integer id, got string"));

  j = load_json_file(kTiny);
  j["model"]["vocab"] = nlohmann::json::array();
  EXPECT_THAT(parse_error_of(j).what(), HasSubstr("model.vocab': expected an object, got array"));

  j = load_json_file(kTiny);
  j["model"]["vocab"]["ll"] = 256;  // collides with "he"
  EXPECT_THAT(parse_error_of(j).what(), HasSubstr("id 256 is already used"));

  j = load_json_file(kTiny);
  j["added_tokens"][0]["special"] = "yes";
  e = parse_error_of(j);
  EXPECT_EQ(e.field(), "added_tokens[0].special");
  EXPECT_THAT(e.what(), HasSubstr("expected a boolean"));

  j = load_json_file(kTiny);
  j["added_tokens"][0]["id"] = 259;  // "hello"
  EXPECT_THAT(parse_error_of(j).what(), HasSubstr("id 259 already belongs to another token"));

  j = load_json_file(kTiny);
  j["model"]["ignore_merges"] = 1;
  EXPECT_EQ(parse_error_of(j).field(), "model.ignore_merges");

  auto top = parse_error_of(nlohmann::json::array());
  EXPECT_THAT(top.what(), HasSubstr("expected a JSON object, got array"));
}

}  // namespace
}  // namespace oap
