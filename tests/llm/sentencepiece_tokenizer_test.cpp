// SentencePiece models trained here, on a generated corpus, by spm_train_fixture (SentencePiece's
// own trainer, in a separate process: this binary links LibTorch through oap and must not link
// libsentencepiece). The same program encodes with SentencePiece itself as the oracle.
#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <link.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "oap/core/error.hpp"
#include "oap/llm/tokenizer.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using Ids = std::vector<std::int32_t>;

// text in single quotes for /bin/sh (any bytes but NUL).
std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

// Runs spm_train_fixture with args; returns its stdout, failing the test if it exits non-zero.
std::string run_fixture(const std::vector<std::string>& args) {
  std::string command = shell_quote(OAP_SPM_TRAIN_FIXTURE);
  for (const auto& arg : args) {
    command += ' ';
    command += shell_quote(arg);
  }
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "cannot run " << command;
    return {};
  }
  std::string out;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  const int status = ::pclose(pipe);
  EXPECT_EQ(status, 0) << command;
  return out;
}

// The ids SentencePiece itself gives each text, from spm_train_fixture encode.
std::vector<Ids> oracle_encode(const std::filesystem::path& model,
                               const std::vector<std::string>& texts) {
  std::vector<std::string> args = {"encode", model.string()};
  args.insert(args.end(), texts.begin(), texts.end());
  std::istringstream lines(run_fixture(args));
  std::vector<Ids> out;
  for (std::string line; std::getline(lines, line);) {
    std::istringstream numbers(line);
    Ids ids;
    for (std::int32_t id; numbers >> id;) ids.push_back(id);
    out.push_back(ids);
  }
  EXPECT_EQ(out.size(), texts.size());
  return out;
}

// Paths of every shared object loaded in this process.
std::vector<std::string> loaded_objects() {
  std::vector<std::string> out;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        static_cast<std::vector<std::string>*>(data)->push_back(info->dlpi_name ? info->dlpi_name
                                                                                : "");
        return 0;
      },
      &out);
  return out;
}

bool is_loaded(const std::string& name_part) {
  for (const auto& object : loaded_objects()) {
    if (object.find(name_part) != std::string::npos) return true;
  }
  return false;
}

class SentencePieceTokenizerTest : public ::testing::Test {
 protected:
  // Trains one BPE model (byte_fallback on, no normalization, so decode inverts encode) once
  // for the whole suite.
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    run_fixture({"train", dir_->path().string()});
    ASSERT_TRUE(std::filesystem::is_regular_file(model()));
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::filesystem::path model() { return *dir_ / "tokenizer.model"; }

  static testing::TempDir* dir_;
};

testing::TempDir* SentencePieceTokenizerTest::dir_ = nullptr;

TEST_F(SentencePieceTokenizerTest, MatchesTheLibraryAndRoundTrips) {
  auto tok = Tokenizer::from_sentencepiece_file(model());
  const std::vector<std::string> texts = {
      "the user changed topic",        "caf\xC3\xA9 model  quickly",     "zebra!",
      "\xF0\x9F\x98\x80 \xE4\xBD\xA0", " leading and trailing spaces  ", ""};
  const auto expected = oracle_encode(model(), texts);
  ASSERT_EQ(expected.size(), texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto ids = tok->encode(texts[i]);
    EXPECT_EQ(ids, expected[i]) << texts[i];
    // byte_fallback: characters never seen in training come back byte for byte.
    EXPECT_EQ(tok->decode(ids), texts[i]);
  }
  EXPECT_EQ(tok->vocab_size(), 300u);
}

TEST_F(SentencePieceTokenizerTest, LongTextNeedsMoreRoomThanOneIdPerByte) {
  // Each invalid byte becomes U+FFFD, spelled as three byte pieces: the plugin asks for more
  // room than the first guess and the second call fills it.
  auto tok = Tokenizer::from_sentencepiece_file(model());
  const std::string text(200, '\xFF');
  const auto expected = oracle_encode(model(), {text});
  ASSERT_EQ(expected.size(), 1u);
  auto ids = tok->encode(text);
  EXPECT_GT(ids.size(), text.size());
  EXPECT_EQ(ids, expected[0]);
  EXPECT_EQ(tok->decode(ids).size(), 3 * text.size());  // 200 x EF BF BD
}

TEST_F(SentencePieceTokenizerTest, SpecialTokens) {
  // SentencePiece's defaults: <unk>=0, <s>=1, </s>=2.
  auto tok = Tokenizer::load(model().parent_path());
  EXPECT_EQ(tok->bos_id(), std::optional<std::int32_t>(1));
  EXPECT_EQ(tok->eos_id(), std::optional<std::int32_t>(2));
  EXPECT_EQ(tok->token_to_id("<s>"), std::optional<std::int32_t>(1));
  EXPECT_EQ(tok->token_to_id("<unk>"), std::optional<std::int32_t>(0));
  EXPECT_FALSE(tok->token_to_id("no such piece").has_value());
  Ids ids = tok->encode("the user", /*add_special=*/true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(Ids(ids.begin() + 1, ids.end()), tok->encode("the user"));
  ids.push_back(2);
  EXPECT_EQ(tok->decode(ids), "<s>the user</s>");
  EXPECT_EQ(tok->decode(ids, /*skip_special=*/true), "the user");
}

TEST_F(SentencePieceTokenizerTest, InvalidUtf8DoesNotCrash) {
  auto tok = Tokenizer::from_sentencepiece_file(model());
  const std::string text = "user \xFF\xC3 model";
  auto ids = tok->encode(text);
  EXPECT_FALSE(ids.empty());
  EXPECT_EQ(ids, oracle_encode(model(), {text}).at(0));
  std::string back = tok->decode(ids);
  EXPECT_THAT(back, HasSubstr("user"));
  EXPECT_THAT(back, HasSubstr("model"));
}

TEST_F(SentencePieceTokenizerTest, Errors) {
  auto tok = Tokenizer::from_sentencepiece_file(model());
  EXPECT_THAT(
      [&] {
        tok->decode(Ids{5, 300});
      },
      ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("token id 300 is not in")));
  EXPECT_THAT([&] { Tokenizer::from_sentencepiece_file(model().parent_path() / "none.model"); },
              ::testing::ThrowsMessage<IoError>(HasSubstr("does not exist")));
  // A file SentencePiece cannot parse: the file name and SentencePiece's reason.
  const auto bad = model().parent_path() / "bad.model";
  testing::write_file(bad, "not a sentencepiece model");
  EXPECT_THAT([&] { Tokenizer::from_sentencepiece_file(bad); },
              ::testing::ThrowsMessage<IoError>(
                  AllOf(HasSubstr("cannot load SentencePiece model " + bad.string() + ": "),
                        HasSubstr("ParseFromArray"), HasSubstr("is it a SentencePiece"))));
}

// The point of the plugin: this binary has LibTorch (and, with Debian's LibTorch, the full
// libprotobuf) loaded, yet SentencePiece, with its own protobuf-lite, loads and works, and does
// not leak its protobuf symbols into the global scope.
TEST_F(SentencePieceTokenizerTest, WorksInAProcessWithLibTorch) {
  ASSERT_TRUE(is_loaded("libtorch")) << "this test binary should load LibTorch through liboap";
  const bool torch_protobuf = is_loaded("libprotobuf");

  auto tok = Tokenizer::from_sentencepiece_file(model());
  EXPECT_TRUE(is_loaded("libsentencepiece"));
  const std::string text = "the user changed topic quickly";
  auto ids = tok->encode(text);
  EXPECT_EQ(ids, oracle_encode(model(), {text}).at(0));
  EXPECT_EQ(tok->decode(ids), text);

  // google::protobuf::internal::VerifyVersion, exported by both libprotobuf and
  // libsentencepiece: a global lookup still finds LibTorch's copy.
  if (torch_protobuf) {
    void* symbol = dlsym(RTLD_DEFAULT, "_ZN6google8protobuf8internal13VerifyVersionEiiPKc");
    ASSERT_NE(symbol, nullptr);
    Dl_info info{};
    ASSERT_NE(dladdr(symbol, &info), 0);
    EXPECT_THAT(std::string(info.dli_fname), HasSubstr("libprotobuf"));
  }
}

TEST_F(SentencePieceTokenizerTest, LoadsAndEncodesFromManyThreads) {
  const std::string text = "caf\xC3\xA9 physics adapter";
  const Ids expected = oracle_encode(model(), {text}).at(0);
  std::vector<Ids> results(8);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      auto tok = Tokenizer::from_sentencepiece_file(model());
      for (int i = 0; i < 50; ++i) results[t] = tok->encode(text);
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& ids : results) EXPECT_EQ(ids, expected);
}

// The plugin is loaded once per process, so a wrong OAP_SENTENCEPIECE_PLUGIN is tried in a
// fresh process (gtest's "threadsafe" death-test style re-executes this binary), where nothing
// has loaded the plugin yet.
class SentencePiecePluginDeathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    testing::write_file(dir_ / "tokenizer.model", "a model file, never read");
  }

  // In the child: loads a model with OAP_SENTENCEPIECE_PLUGIN=plugin and exits 0 after writing
  // the IoError's message to stderr, 2 on any other outcome. (_Exit skips destructors, so the
  // child's own temp dir is removed here.)
  [[noreturn]] void load_with_plugin(const std::filesystem::path& plugin) {
    ::setenv("OAP_SENTENCEPIECE_PLUGIN", plugin.c_str(), 1);
    int code = 2;
    try {
      Tokenizer::from_sentencepiece_file(dir_ / "tokenizer.model");
    } catch (const IoError& e) {
      std::fprintf(stderr, "%s\n", e.what());
      code = 0;
    } catch (...) {
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_.path(), ec);
    std::fflush(stderr);
    std::_Exit(code);
  }

  testing::TempDir dir_;
};

TEST_F(SentencePiecePluginDeathTest, MissingPluginNamesTheVariableAndPath) {
  const auto missing = dir_ / "no_such_plugin.so";
  EXPECT_EXIT(load_with_plugin(missing), ::testing::ExitedWithCode(0),
              "SentencePiece plugin not found: OAP_SENTENCEPIECE_PLUGIN=.*no_such_plugin\\.so "
              "is not a file");
}

TEST_F(SentencePiecePluginDeathTest, AFileThatIsNotALibraryIsRefusedWithDlerror) {
  const auto not_a_library = dir_ / "not_a_library.so";
  testing::write_file(not_a_library, "plain text");
  EXPECT_EXIT(load_with_plugin(not_a_library), ::testing::ExitedWithCode(0),
              "cannot load SentencePiece plugin .*not_a_library\\.so: .*not_a_library\\.so");
}

}  // namespace
}  // namespace oap
