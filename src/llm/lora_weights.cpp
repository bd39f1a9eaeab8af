#include "oap/llm/lora_weights.hpp"

#include <torch/torch.h>

#include <array>
#include <cmath>

#include "oap/core/error.hpp"

namespace oap {
namespace {
constexpr std::array<std::string_view, kNumLoraTargets> kNames = {
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
}  // namespace

std::string_view lora_target_name(LoraTarget t) { return kNames[static_cast<std::size_t>(t)]; }

std::optional<LoraTarget> parse_lora_target(std::string_view name) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<LoraTarget>(i);
  }
  return std::nullopt;
}

std::pair<std::int64_t, std::int64_t> lora_target_shape(const ModelConfig& c, LoraTarget t) {
  const std::int64_t h = c.hidden_size;
  switch (t) {
    case LoraTarget::kQ:
      return {h, c.num_attention_heads * c.head_dim};
    case LoraTarget::kK:
    case LoraTarget::kV:
      return {h, c.num_key_value_heads * c.head_dim};
    case LoraTarget::kO:
      return {c.num_attention_heads * c.head_dim, h};
    case LoraTarget::kGate:
    case LoraTarget::kUp:
      return {h, c.intermediate_size};
    case LoraTarget::kDown:
      return {c.intermediate_size, h};
  }
  return {0, 0};
}

LoraWeights::LoraWeights(std::int64_t num_layers)
    : pairs_(static_cast<std::size_t>(num_layers * kNumLoraTargets)) {}

LoraWeights LoraWeights::create(const ModelConfig& config, std::int64_t rank, double alpha,
                                const std::vector<LoraTarget>& targets, bool rslora,
                                std::uint64_t seed, const std::string& device) {
  OAP_CHECK(rank > 0, InvalidArgument, "LoRA rank must be positive, got " + std::to_string(rank));
  const double scale = lora_scale(alpha, rank, rslora);
  LoraWeights w(config.num_hidden_layers);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (std::int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    for (auto t : targets) {
      const auto [in, out] = lora_target_shape(config, t);
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      auto a = torch::empty({rank, in}, torch::kFloat).uniform_(-bound, bound, gen);
      auto b = torch::zeros({out, rank}, torch::kFloat);
      a = a.to(torch::Device(device)).set_requires_grad(true);
      b = b.to(torch::Device(device)).set_requires_grad(true);
      w.set(layer, t, LoraPair{a, b, scale});
    }
  }
  return w;
}

void LoraWeights::set(std::int64_t layer, LoraTarget t, LoraPair pair) {
  OAP_CHECK(layer >= 0 && layer < num_layers(), InvalidArgument,
            "LoRA layer " + std::to_string(layer) + " out of range [0, " +
                std::to_string(num_layers()) + ")");
  pairs_[static_cast<std::size_t>(layer * kNumLoraTargets + static_cast<int>(t))] = std::move(pair);
}

const LoraPair* LoraWeights::get(std::int64_t layer, LoraTarget t) const {
  if (layer < 0 || layer >= num_layers()) return nullptr;
  const auto& p = pairs_[static_cast<std::size_t>(layer * kNumLoraTargets + static_cast<int>(t))];
  return p ? &*p : nullptr;
}

std::vector<at::Tensor> LoraWeights::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& p : pairs_) {
    if (p) {
      out.push_back(p->a);
      out.push_back(p->b);
    }
  }
  return out;
}

std::string hf_module_name(std::int64_t layer, LoraTarget t) {
  const bool mlp = t == LoraTarget::kGate || t == LoraTarget::kUp || t == LoraTarget::kDown;
  return "model.layers." + std::to_string(layer) + (mlp ? ".mlp." : ".self_attn.") +
         std::string(lora_target_name(t));
}

std::string peft_module_name(std::int64_t layer, LoraTarget t) {
  return "base_model.model." + hf_module_name(layer, t);
}

std::vector<std::pair<std::string, at::Tensor>> LoraWeights::named_tensors() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (std::int64_t layer = 0; layer < num_layers(); ++layer) {
    for (int t = 0; t < kNumLoraTargets; ++t) {
      const auto* p = get(layer, static_cast<LoraTarget>(t));
      if (p == nullptr) continue;
      const std::string prefix = peft_module_name(layer, static_cast<LoraTarget>(t));
      out.emplace_back(prefix + ".lora_A.weight", p->a);
      out.emplace_back(prefix + ".lora_B.weight", p->b);
    }
  }
  return out;
}

LoraWeights LoraWeights::clone() const {
  LoraWeights w(num_layers());
  for (std::size_t i = 0; i < pairs_.size(); ++i) {
    if (!pairs_[i]) continue;
    const auto& p = *pairs_[i];
    w.pairs_[i] = LoraPair{p.a.detach().clone().set_requires_grad(p.a.requires_grad()),
                           p.b.detach().clone().set_requires_grad(p.b.requires_grad()), p.scale};
  }
  return w;
}

}  // namespace oap
