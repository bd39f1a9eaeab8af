#include "oap/llm/model_init.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "llm/model_test_util.hpp"
#include "oap/core/error.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/safetensors.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

TEST(InitRandomModel, TinyPresetWritesHfLayoutWithTokenizer) {
  TempDir dir;
  const auto c = init_random_model(model_preset("tiny"), dir.path(), {.seed = 3});
  for (const char* f :
       {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.path() / f)) << f;
  }
  const auto read = ModelConfig::from_file(dir.path());
  EXPECT_EQ(nlohmann::json(read), nlohmann::json(c));
  auto tok = Tokenizer::load(dir.path());
  ASSERT_TRUE(c.bos_token_id.has_value());
  EXPECT_EQ(tok->token_to_id("<|endoftext|>"), static_cast<std::int32_t>(*c.bos_token_id));
  EXPECT_LE(tok->vocab_size(), static_cast<std::size_t>(c.vocab_size));
  auto st = SafeTensors::open(dir.path() / "model.safetensors");
  EXPECT_FALSE(st->contains("lm_head.weight"));  // tied
  std::int64_t params = 0;
  for (const auto& e : st->header().tensors) params += static_cast<std::int64_t>(e.numel());
  EXPECT_EQ(params, c.num_parameters());
}

TEST(InitRandomModel, WriteThenReadBackGivesIdenticalLogits) {
  TempDir dir;
  const auto c = testing::micro_config();
  testing::write_micro_model(dir.path() / "a", c, 42);
  auto model = CausalLM::load(dir.path() / "a", {.num_threads = 1});
  // Save the loaded model's weights again and reload: logits must be bit-identical.
  save_safetensors(dir.path() / "b.safetensors", model->named_weights());
  std::filesystem::create_directories(dir.path() / "b");
  std::filesystem::copy_file(dir.path() / "a" / "config.json", dir.path() / "b" / "config.json");
  std::filesystem::rename(dir.path() / "b.safetensors", dir.path() / "b" / "model.safetensors");
  auto again = CausalLM::load(dir.path() / "b", {.num_threads = 1});
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(0, c.vocab_size, {2, 10}, torch::kLong);
  EXPECT_TRUE(torch::equal(model->forward(ids), again->forward(ids)));
  // Same seed, same bytes; another seed, other weights.
  testing::write_micro_model(dir.path() / "c", c, 42);
  testing::write_micro_model(dir.path() / "d", c, 43);
  auto sa = SafeTensors::open(dir.path() / "a" / "model.safetensors");
  auto sc = SafeTensors::open(dir.path() / "c" / "model.safetensors");
  auto sd = SafeTensors::open(dir.path() / "d" / "model.safetensors");
  EXPECT_TRUE(torch::equal(sa->tensor("model.embed_tokens.weight"),
                           sc->tensor("model.embed_tokens.weight")));
  EXPECT_FALSE(torch::equal(sa->tensor("model.embed_tokens.weight"),
                            sd->tensor("model.embed_tokens.weight")));
}

TEST(InitRandomModel, Bfloat16CheckpointLoadsAsFloat32) {
  TempDir dir;
  testing::write_micro_model(dir.path(), testing::micro_config(), 1, "bfloat16");
  auto st = SafeTensors::open(dir.path() / "model.safetensors");
  EXPECT_EQ(st->header().find("model.norm.weight")->dtype, DType::kBF16);
  auto f32 = CausalLM::load(dir.path(), {.num_threads = 1});
  auto bf16 = CausalLM::load(dir.path(), {.dtype = "bfloat16", .num_threads = 1});
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(0, 97, {1, 5}, torch::kLong);
  auto a = f32->forward(ids);
  auto b = bf16->forward(ids);
  EXPECT_LT((a - b).abs().max().item<double>(), 0.05 * a.abs().max().item<double>());
}

TEST(InitRandomModel, RefusesBadDtype) {
  TempDir dir;
  try {
    init_random_model(testing::micro_config(), dir.path(), {.dtype = "int8"});
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("dtype must be float32 or bfloat16, got 'int8'"));
  }
}

}  // namespace
}  // namespace oap
