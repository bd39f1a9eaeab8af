#include "oap/llm/model_init.hpp"

#include <torch/torch.h>

#include "llm/torch_dtype.hpp"
#include "oap/core/atomic_file.hpp"
#include "oap/core/error.hpp"
#include "oap/llm/lora_weights.hpp"
#include "oap/llm/safetensors.hpp"
#include "oap/llm/tokenizer.hpp"

namespace oap {
namespace {

// A small public-domain-style English corpus so the tokenizer learns real merges.
const std::vector<std::string>& builtin_corpus() {
  static const std::vector<std::string> corpus = {
      "The quick brown fox jumps over the lazy dog. The dog sleeps in the sun.",
      "A student switched from mathematics to history and started reading about old empires.",
      "Customers who bought coffee also bought tea, milk, sugar and fresh bread in the morning.",
      "It was the best of times, it was the worst of times, it was the age of wisdom.",
      "In the beginning the model knows nothing; it learns from every example it is given.",
      "Please write a short answer. Thank you for your question, I will help you with that.",
      "The weather today is sunny with a light wind from the west and a high of twenty degrees.",
      "Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 100 2024 3.14 -1 +1 = % $ # @ ! ? ( ) [ ] { }",
      "She said: \"I'm going home now.\" He replied: \"We'll see you tomorrow, then.\"",
      "Personalization adapts a language model to each user while keeping the base model shared.",
      "An outlier is an observation that lies far from the others; a shift is a lasting change.",
      "def main():\n    print(\"hello, world\")\n    return 0\n",
      "User: What is the capital of France?\nAssistant: The capital of France is Paris.\n",
  };
  return corpus;
}

}  // namespace

ModelConfig init_random_model(ModelConfig config, const std::filesystem::path& out_dir,
                              const InitModelOptions& options) {
  const std::string dtype_name = options.dtype.empty() ? config.torch_dtype : options.dtype;
  const auto dtype = detail::scalar_type_from_name(dtype_name);
  OAP_CHECK(dtype == torch::kFloat || dtype == torch::kBFloat16, InvalidArgument,
            "init_random_model: dtype must be float32 or bfloat16, got '" + dtype_name + "'");
  OAP_CHECK(options.init_std > 0, InvalidArgument, "init_random_model: init_std must be positive");
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  OAP_CHECK(!ec, IoError, "cannot create " + out_dir.string() + ": " + ec.message());
  config.torch_dtype = dtype_name;

  if (options.write_tokenizer) {
    const std::vector<std::string> specials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    const std::size_t vocab = std::min<std::size_t>(options.tokenizer_vocab_size,
                                                    static_cast<std::size_t>(config.vocab_size));
    write_byte_level_bpe_tokenizer(builtin_corpus(), vocab, specials, out_dir / "tokenizer.json");
    const auto tok = Tokenizer::from_json_file(out_dir / "tokenizer.json");
    const auto eot = tok->token_to_id("<|endoftext|>");
    OAP_CHECK(eot.has_value(), IoError, "the written tokenizer has no <|endoftext|> token");
    config.bos_token_id = *eot;
    config.eos_token_ids = {*eot};
    const auto im_end = tok->token_to_id("<|im_end|>");
    if (im_end) config.eos_token_ids.push_back(*im_end);
  }
  config.validate();

  auto gen = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  const double sd = options.init_std;
  auto normal = [&](std::vector<std::int64_t> shape) {
    return torch::empty(shape, torch::kFloat).normal_(0.0, sd, gen).to(*dtype);
  };
  auto norm_weight = [&](std::int64_t n) {
    return (torch::empty({n}, torch::kFloat).normal_(0.0, sd, gen) + 1.0).to(*dtype);
  };
  const auto& c = config;
  const std::int64_t h = c.hidden_size;
  const std::int64_t q = c.num_attention_heads * c.head_dim;
  const std::int64_t kv = c.num_key_value_heads * c.head_dim;
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  tensors.emplace_back("model.embed_tokens.weight", normal({c.vocab_size, h}));
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    auto linear = [&](LoraTarget t, std::int64_t out, std::int64_t in, bool bias) {
      const std::string name = hf_module_name(i, t);
      tensors.emplace_back(name + ".weight", normal({out, in}));
      if (bias) tensors.emplace_back(name + ".bias", normal({out}));
    };
    tensors.emplace_back(p + "input_layernorm.weight", norm_weight(h));
    linear(LoraTarget::kQ, q, h, c.has_qkv_bias());
    linear(LoraTarget::kK, kv, h, c.has_qkv_bias());
    linear(LoraTarget::kV, kv, h, c.has_qkv_bias());
    linear(LoraTarget::kO, h, q, c.attention_bias);
    tensors.emplace_back(p + "post_attention_layernorm.weight", norm_weight(h));
    linear(LoraTarget::kGate, c.intermediate_size, h, c.mlp_bias);
    linear(LoraTarget::kUp, c.intermediate_size, h, c.mlp_bias);
    linear(LoraTarget::kDown, h, c.intermediate_size, c.mlp_bias);
  }
  tensors.emplace_back("model.norm.weight", norm_weight(h));
  if (!c.tie_word_embeddings) tensors.emplace_back("lm_head.weight", normal({c.vocab_size, h}));
  save_safetensors(out_dir / "model.safetensors", tensors, {{"format", "pt"}});

  write_text_file_atomic(out_dir / "config.json", nlohmann::json(config).dump(2) + "\n");
  nlohmann::json gen_cfg = {
      {"bos_token_id", c.bos_token_id ? nlohmann::json(*c.bos_token_id) : nlohmann::json(nullptr)},
      {"do_sample", false},
      {"max_new_tokens", 64}};
  if (!c.eos_token_ids.empty()) gen_cfg["eos_token_id"] = c.eos_token_ids;
  write_text_file_atomic(out_dir / "generation_config.json", gen_cfg.dump(2) + "\n");
  return config;
}

}  // namespace oap
