// The LibTorch commands of the oap tool, run as a user runs them: init-model, train-tokenizer,
// tokenize, score and generate, with and without a PEFT adapter.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_runner.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/peft_adapter.hpp"
#include "oap/llm/scorer.hpp"
#include "oap/llm/tokenizer.hpp"
#include "test_util.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using testing::run_cli;

class LlmCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const auto r = run_cli("init-model --preset tiny --seed 3 --out " + model().string());
    ASSERT_EQ(r.status, 0) << r.output;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::filesystem::path model() { return *dir_ / "model"; }
  static std::filesystem::path adapter() { return *dir_ / "adapter"; }
  static nlohmann::json json_line(const std::string& output) {
    std::istringstream in(output);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line[0] == '{') return nlohmann::json::parse(line);
    }
    ADD_FAILURE() << "no JSON line in: " << output;
    return {};
  }
  // A trained-looking adapter (B != 0) for the tiny model, written with the library.
  static void write_adapter() {
    const auto lm = CausalLM::load(model(), {.num_threads = 1});
    PeftAdapterConfig c;
    c.rank = 4;
    c.alpha = 8;
    c.targets = {LoraTarget::kQ, LoraTarget::kV};
    auto w = LoraWeights::create(lm->config(), c.rank, c.alpha, c.targets, false, 1);
    torch::manual_seed(4);
    torch::NoGradGuard no_grad;
    for (auto& t : w.parameters()) t.normal_(0.0, 0.5);
    save_peft_adapter(adapter(), w, c);
  }

  static testing::TempDir* dir_;
};

testing::TempDir* LlmCliTest::dir_ = nullptr;

TEST_F(LlmCliTest, TokenizeRoundTrips) {
  const auto r = run_cli("tokenize --model " + model().string() + " --text 'the user changed'");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = json_line(r.output);
  EXPECT_FALSE(j.at("ids").empty());
  EXPECT_EQ(j.at("decoded"), "the user changed");
}

TEST_F(LlmCliTest, TokenizeJsonlEncodesEachLineAsTextDoes) {
  const auto in = *dir_ / "texts.jsonl";
  testing::write_file(in, "{\"text\": \"the user changed\", \"id\": 1}\n\n{\"text\": \"a b\"}\n");
  const auto r = run_cli("tokenize --special --model " + model().string() + " --jsonl " +
                         in.string() + " 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.output;
  const auto tok = Tokenizer::load(model());
  EXPECT_EQ(r.output, nlohmann::json(tok->encode("the user changed", true)).dump() + "\n[]\n" +
                          nlohmann::json(tok->encode("a b", true)).dump() + "\n");
  testing::write_file(in, "{\"text\": \"ok\"}\n{\"txt\": \"no text field\"}\n");
  const auto bad = run_cli("tokenize --model " + model().string() + " --jsonl " + in.string());
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr(in.string() + ":2: expected an object with a string"));
  const auto both =
      run_cli("tokenize --model " + model().string() + " --text x --jsonl " + in.string());
  EXPECT_EQ(both.status, 2) << both.output;
}

TEST_F(LlmCliTest, TrainTokenizerWritesADeterministicLoadableTokenizer) {
  const auto text = *dir_ / "corpus.txt";
  const auto jsonl = *dir_ / "corpus.jsonl";
  testing::write_file(text, "the cat sat on the mat. the cat ate the rat.\n");
  testing::write_file(jsonl,
                      "{\"text\": \"the dog sat on the log\"}\n"
                      "{\"text\": \"<|endoftext|>the end\"}\n");
  const auto out1 = *dir_ / "tok1.json";
  const auto out2 = *dir_ / "tok2.json";
  const std::string inputs = " " + text.string() + " " + jsonl.string();
  const auto r = run_cli("train-tokenizer --vocab-size 280 --out " + out1.string() + inputs);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("280 tokens (3 special) from 3 documents"));
  ASSERT_EQ(run_cli("train-tokenizer --vocab-size 280 --out " + out2.string() + inputs).status, 0);
  const auto slurp = [](const std::filesystem::path& p) {
    std::ifstream f(p);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  EXPECT_EQ(slurp(out1), slurp(out2));
  const auto tok = Tokenizer::from_json_file(out1);
  EXPECT_EQ(tok->vocab_size(), 280u);
  EXPECT_EQ(tok->token_to_id("<|endoftext|>"), 277);
  EXPECT_EQ(tok->token_to_id("<|im_end|>"), 279);
  EXPECT_TRUE(tok->token_to_id("Ġthe").has_value());  // the most frequent word got merged
  const auto ids = tok->encode("the cat sat on the log");
  EXPECT_LT(ids.size(), 10u);
  EXPECT_EQ(tok->decode(ids), "the cat sat on the log");

  const auto custom = run_cli("train-tokenizer --vocab-size 260 --special '<s>,</s>' --out " +
                              out1.string() + " " + text.string());
  ASSERT_EQ(custom.status, 0) << custom.output;
  EXPECT_EQ(Tokenizer::from_json_file(out1)->token_to_id("</s>"), 259);

  EXPECT_EQ(run_cli("train-tokenizer --vocab-size 300 " + text.string()).status, 2);
  EXPECT_EQ(run_cli("train-tokenizer --out " + out1.string() + " " + text.string()).status, 2);
  EXPECT_EQ(run_cli("train-tokenizer --vocab-size 300 --out " + out1.string()).status, 2);
  const auto small = run_cli("train-tokenizer --vocab-size 100 --out " + out1.string() + inputs);
  EXPECT_EQ(small.status, 1) << small.output;
  EXPECT_THAT(small.output, HasSubstr("vocab_size 100 is below 256 byte tokens"));
  testing::write_file(jsonl, "{\"text\": \"fine\"}\nnot json\n");
  const auto bad = run_cli("train-tokenizer --vocab-size 300 --out " + out1.string() + inputs);
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr(jsonl.string() + ":2: not JSON"));
  const auto missing = run_cli("train-tokenizer --vocab-size 300 --out " + out1.string() + " " +
                               (*dir_ / "no_such_file.txt").string());
  EXPECT_EQ(missing.status, 1);
  EXPECT_THAT(missing.output, HasSubstr("no_such_file.txt"));
}

TEST_F(LlmCliTest, ScoreMatchesTheLibraryWithAndWithoutAnAdapter) {
  write_adapter();
  const std::string text = "the model learns what the user does";
  const auto base =
      run_cli("score --threads 1 --model " + model().string() + " --text '" + text + "'");
  const auto with = run_cli("score --threads 1 --model " + model().string() + " --adapter " +
                            adapter().string() + " --text '" + text + "'");
  ASSERT_EQ(base.status, 0) << base.output;
  ASSERT_EQ(with.status, 0) << with.output;
  const auto jb = json_line(base.output), jw = json_line(with.output);
  EXPECT_EQ(jb.at("ids"), jw.at("ids"));
  EXPECT_NEAR(std::exp(jb.at("mean_nll").get<double>()), jb.at("perplexity").get<double>(), 1e-9);
  // The library, with the same adapter read back, gives what the tool printed.
  const auto lm = CausalLM::load(model(), {.num_threads = 1});
  const auto loaded = load_peft_adapter(adapter(), lm->config());
  const auto ids = jb.at("ids").get<std::vector<std::int32_t>>();
  const LoraWeights* one[] = {&loaded.weights};
  const auto lib_base = score(*lm, {ids});
  const auto lib_with = score(*lm, {ids}, one);
  EXPECT_NEAR(jb.at("mean_nll").get<double>(), lib_base[0].mean_nll, 1e-9);
  EXPECT_NEAR(jw.at("mean_nll").get<double>(), lib_with[0].mean_nll, 1e-9);
  EXPECT_GT(std::fabs(lib_with[0].mean_nll - lib_base[0].mean_nll), 1e-4);  // it matters
}

TEST_F(LlmCliTest, GenerateIsDeterministicAndTakesAnAdapter) {
  write_adapter();
  const std::string args =
      "generate --threads 1 --max-tokens 6 --temperature 0.8 --seed 5 --model " + model().string() +
      " --prompt 'the user'";
  const auto a = run_cli(args), b = run_cli(args);
  ASSERT_EQ(a.status, 0) << a.output;
  EXPECT_EQ(json_line(a.output), json_line(b.output));
  const auto c = run_cli(args + " --adapter " + adapter().string());
  ASSERT_EQ(c.status, 0) << c.output;
  EXPECT_EQ(json_line(c.output).at("prompt_ids"), json_line(a.output).at("prompt_ids"));
}

TEST_F(LlmCliTest, GenerateTakesDecodeThreadsAndRefusesABadCount) {
  const std::string args =
      "generate --threads 1 --max-tokens 5 --model " + model().string() + " --prompt 'the user'";
  const auto one = run_cli(args);
  const auto two = run_cli(args + " --decode-threads 2");
  ASSERT_EQ(one.status, 0) << one.output;
  ASSERT_EQ(two.status, 0) << two.output;
  EXPECT_EQ(json_line(two.output).at("ids"), json_line(one.output).at("ids"));
  const auto bad = run_cli(args + " --decode-threads -3");
  EXPECT_EQ(bad.status, 2) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("--decode-threads"));
  const auto huge = run_cli(args + " --decode-threads 99999999999");
  EXPECT_EQ(huge.status, 2) << huge.output;
  EXPECT_THAT(huge.output, HasSubstr("--decode-threads: 99999999999 threads is too many"));
}

TEST_F(LlmCliTest, NumbersAreParsedStrictly) {
  const std::string args =
      "generate --threads 1 --max-tokens 2 --model " + model().string() + " --prompt 'the user'";
  // std::stod read "0.7x" as 0.7; the one strict parser refuses it, naming option and value.
  for (const char* bad : {"0.7x", "nan", "inf", "''", "' 0.7'", "1e999"}) {
    const auto r = run_cli(args + " --temperature " + bad);
    EXPECT_EQ(r.status, 2) << bad << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("option --temperature expects a finite number, got \""));
  }
  const auto x = run_cli(args + " --temperature 0.7x");
  EXPECT_THAT(x.output, HasSubstr("--temperature expects a finite number, got \"0.7x\""));
  const auto top_p = run_cli(args + " --top-p 0.9,");
  EXPECT_EQ(top_p.status, 2) << top_p.output;
  EXPECT_THAT(top_p.output, HasSubstr("--top-p expects a finite number, got \"0.9,\""));
  const auto seed = run_cli(args + " --seed -1");
  EXPECT_EQ(seed.status, 2) << seed.output;
  EXPECT_THAT(seed.output, HasSubstr("--seed expects a non-negative integer, got \"-1\""));
  const auto big = run_cli(args + " --max-tokens 99999999999999999999");
  EXPECT_EQ(big.status, 2) << big.output;
  EXPECT_THAT(big.output, HasSubstr("--max-tokens expects a non-negative integer no larger than"));
  // In range but refused by GenerationOptions::validate: a config error (exit 1), named.
  const auto range = run_cli(args + " --top-p 1.5");
  EXPECT_EQ(range.status, 1) << range.output;
  EXPECT_THAT(range.output, HasSubstr("generation.top_p: must be in (0, 1]"));
  EXPECT_EQ(run_cli(args + " --temperature 0.7 --seed 3").status, 0);
}

TEST_F(LlmCliTest, GenerateAndScoreReadTheSectionedConfig) {
  testing::TempDir dir;
  testing::write_file(
      dir / "oap.json",
      R"({"model": {"num_threads": 1}, "generation": {"max_new_tokens": 3, "temperature": 0.9,
          "seed": 11}, "detect": {"min_history": 3}, "log": {"level": "error"}})");
  const std::string common = " --config " + (dir / "oap.json").string() + " --model " +
                             model().string() + " --prompt 'the user'";
  const auto from_file = run_cli("generate" + common);
  ASSERT_EQ(from_file.status, 0) << from_file.output;
  const auto flags = run_cli(
      "generate --threads 1 --max-tokens 3 --temperature 0.9 --seed 11 "
      "--model " +
      model().string() + " --prompt 'the user'");
  ASSERT_EQ(flags.status, 0) << flags.output;
  EXPECT_EQ(json_line(from_file.output), json_line(flags.output));
  EXPECT_LE(json_line(from_file.output).at("ids").size(), 3u);
  // The command line wins over the file.
  const auto flag_wins = run_cli("generate --max-tokens 1" + common);
  ASSERT_EQ(flag_wins.status, 0) << flag_wins.output;
  EXPECT_LE(json_line(flag_wins.output).at("ids").size(), 1u);
  const auto score = run_cli("score --config " + (dir / "oap.json").string() + " --model " +
                             model().string() + " --text 'the user'");
  EXPECT_EQ(score.status, 0) << score.output;
  testing::write_file(dir / "bad.json", R"({"generation": {"temprature": 0.5}})");
  const auto bad = run_cli("generate --config " + (dir / "bad.json").string() + " --model " +
                           model().string() + " --prompt x");
  EXPECT_EQ(bad.status, 1) << bad.output;
  EXPECT_THAT(bad.output, HasSubstr("generation: unknown key(s) \"temprature\""));
  EXPECT_THAT(run_cli("generate --help").output, HasSubstr("\"generation\""));
  EXPECT_THAT(run_cli("score --help").output, HasSubstr("\"model\""));
}

TEST_F(LlmCliTest, AdaptTrainsAnAdapterThatScoreAndGenerateLoad) {
  testing::TempDir dir;
  std::string lines;
  for (int i = 0; i < 10; ++i) {
    lines += R"({"text": "the cat sat on the mat and the cat sat again )" + std::to_string(i % 3) +
             R"("})" + "\n";
  }
  testing::write_file(dir / "texts.jsonl", lines);
  const auto out = dir / "adapter";
  const std::string cmd = "adapt --threads 1 --model " + model().string() + " --data " +
                          (dir / "texts.jsonl").string() + " --out " + out.string() +
                          " --steps 8 --lr 0.01 --rank 4 --targets q_proj,v_proj,o_proj";
  const auto r = run_cli(cmd);
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = json_line(r.output);
  EXPECT_TRUE(j.at("accepted").get<bool>());
  EXPECT_LT(j.at("trigger_loss_after").get<double>(), j.at("trigger_loss_before").get<double>());
  EXPECT_EQ(j.at("trigger_samples"), 8);
  EXPECT_EQ(j.at("heldout_samples"), 2);
  EXPECT_EQ(j.at("written"), out.string());
  // The library reads it as a rank-4 adapter on three modules, and scoring with it gives the
  // trained texts a lower loss than without.
  const auto lm = CausalLM::load(model(), {.num_threads = 1});
  const auto peft = load_peft_adapter(out, lm->config());
  EXPECT_EQ(peft.config.rank, 4);
  EXPECT_EQ(peft.config.targets.size(), 3u);
  const std::string text = "the cat sat on the mat and the cat sat again 1";
  const auto base =
      run_cli("score --threads 1 --model " + model().string() + " --text '" + text + "'");
  const auto with = run_cli("score --threads 1 --model " + model().string() + " --adapter " +
                            out.string() + " --text '" + text + "'");
  ASSERT_EQ(with.status, 0) << with.output;
  EXPECT_LT(json_line(with.output).at("mean_nll").get<double>(),
            json_line(base.output).at("mean_nll").get<double>());
  // Continue training from it.
  const auto more = run_cli("adapt --threads 1 --model " + model().string() + " --data " +
                            (dir / "texts.jsonl").string() + " --out " + (dir / "more").string() +
                            " --from " + out.string() + " --steps 3 --lr 0.01");
  ASSERT_EQ(more.status, 0) << more.output;
  EXPECT_NEAR(json_line(more.output).at("trigger_loss_before").get<double>(),
              j.at("trigger_loss_after").get<double>(), 1e-6);
  // Bad input: usage errors name the problem; a harmful run is refused and writes nothing.
  EXPECT_EQ(run_cli("adapt --model " + model().string() + " --data x").status, 2);
  const auto bad_lr = run_cli(cmd + " --lr 0.5x");
  EXPECT_EQ(bad_lr.status, 2);
  EXPECT_THAT(bad_lr.output, HasSubstr("--lr"));
  const auto bad_target = run_cli(cmd + " --targets q_proj,nope");
  EXPECT_EQ(bad_target.status, 2);
  EXPECT_THAT(bad_target.output, HasSubstr("\"nope\" is not one of"));
  testing::write_file(dir / "bad.jsonl", "{\"txt\": \"x\"}\n");
  const auto bad_data = run_cli("adapt --model " + model().string() + " --data " +
                                (dir / "bad.jsonl").string() + " --out " + (dir / "x").string());
  EXPECT_EQ(bad_data.status, 1);
  EXPECT_THAT(bad_data.output, HasSubstr("bad.jsonl:1: field 'text'"));
  const auto harmful = run_cli("adapt --threads 1 --model " + model().string() + " --data " +
                               (dir / "texts.jsonl").string() + " --out " +
                               (dir / "harmful").string() + " --steps 5 --lr 100");
  EXPECT_EQ(harmful.status, 1) << harmful.output;
  EXPECT_THAT(harmful.output, HasSubstr("rejected"));
  EXPECT_FALSE(std::filesystem::exists(dir / "harmful"));
  EXPECT_THAT(run_cli("adapt --help").output, HasSubstr("PEFT"));
}

TEST_F(LlmCliTest, BadAdapterIsAClearError) {
  const auto missing = run_cli("score --model " + model().string() + " --text x --adapter " +
                               (*dir_ / "no_such_adapter").string());
  EXPECT_NE(missing.status, 0);
  EXPECT_THAT(missing.output, HasSubstr("no_such_adapter"));
  EXPECT_THAT(missing.output, HasSubstr("adapter_config.json"));
}

}  // namespace
}  // namespace oap
