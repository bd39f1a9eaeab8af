#include "oap/llm/causal_lm.hpp"

#include <torch/torch.h>

#include <cstdlib>
#include <mutex>
#include <thread>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "core/log.hpp"
#include "llm/blas_check.hpp"
#include "llm/fused_ops.hpp"
#include "llm/intra_op_threads.hpp"
#include "llm/torch_dtype.hpp"
#include "oap/core/error.hpp"
#include "oap/llm/safetensors_checkpoint.hpp"

namespace oap {
namespace {

std::string shape_str(at::IntArrayRef s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// keep: the cache's kept stack for this projection, or nullptr (see LoraRowStack).
at::Tensor apply(const LoraLinear& lin, const at::Tensor& x,
                 std::span<const LoraWeights* const> adapters, std::int64_t layer, LoraTarget t,
                 KVCache* cache) {
  if (adapters.empty()) return lin.forward(x);
  if (adapters.size() == 1) {
    const LoraPair* p = adapters[0] != nullptr ? adapters[0]->get(layer, t) : nullptr;
    return p != nullptr ? lin.forward(x, *p) : lin.forward(x);
  }
  std::vector<const LoraPair*> rows(adapters.size());
  for (std::size_t b = 0; b < adapters.size(); ++b) {
    rows[b] = adapters[b] != nullptr ? adapters[b]->get(layer, t) : nullptr;
  }
  LoraRowStack* keep = nullptr;
  if (cache != nullptr) {
    keep = &cache->lora_rows(static_cast<std::size_t>(layer) * kNumLoraTargets +
                             static_cast<std::size_t>(t));
  }
  return lin.forward(x, rows, keep);
}

// A forward pass allocates and frees tens of MiB of activations in 0.1-1 MiB blocks. glibc serves
// blocks above its mmap threshold with fresh mappings and returns the heap top above its trim
// threshold to the OS; both start at 128 KiB and only rise when the process frees a large mmapped
// block (a Python process has usually done so while loading; a C++ one that maps its weights has
// not). Then every op faults zeroed pages back in: ~6000 page faults per smollm-135m prefill.
// Sets both to where glibc's dynamic rule stops, once per process, unless the user chose.
void tune_glibc_malloc_once() {
#if defined(__GLIBC__)
  static std::once_flag once;
  std::call_once(once, [] {
    for (const char* env : {"GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"}) {
      if (std::getenv(env) != nullptr) return;
    }
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    detail::logger()->debug("glibc malloc: mmap threshold 32 MiB, trim threshold 64 MiB");
  });
#endif
}

}  // namespace

std::unique_ptr<CausalLM> CausalLM::load(const std::filesystem::path& model_dir,
                                         const CausalLMOptions& options) {
  const auto config = ModelConfig::from_file(model_dir);
  const auto checkpoint = SafeTensorsCheckpoint::open(model_dir);
  return from_checkpoint(config, *checkpoint, options);
}

std::unique_ptr<CausalLM> CausalLM::from_checkpoint(const ModelConfig& config,
                                                    const SafeTensorsCheckpoint& ck,
                                                    const CausalLMOptions& options) {
  options.validate();
  config.validate();
  const torch::Device device(options.device);
  if (device.is_cuda()) {
    OAP_CHECK(torch::cuda::is_available(), ConfigError,
              "model.device is \"" + options.device +
                  "\" but this LibTorch build has no usable CUDA device");
  }
  const int threads = options.num_threads > 0
                          ? options.num_threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  if (options.tune_glibc_malloc && device.is_cpu()) tune_glibc_malloc_once();
  if (device.is_cpu()) detail::warn_if_openblas_is_generic();
  const auto dtype = detail::scalar_type_from_name(options.dtype).value();  // validated above

  std::unique_ptr<CausalLM> m(new CausalLM());
  m->config_ = config;
  m->options_ = options;
  const auto& c = config;
  auto load = [&](const std::string& name, std::vector<std::int64_t> shape) {
    const auto* e = ck.find(name);
    OAP_CHECK(e != nullptr, InvalidArgument,
              "checkpoint has no tensor '" + name + "' (expected shape " + shape_str(shape) +
                  " for a " + c.architecture + "; maybe wrong config.json?)");
    OAP_CHECK(e->shape == shape, InvalidArgument,
              "tensor '" + name + "' has shape " + shape_str(e->shape) +
                  " but config.json implies " + shape_str(shape) + " (maybe wrong config.json?)");
    // .to() returns the mapped tensor itself when dtype and device already match: no copy.
    return ck.tensor(name).to(device, dtype);
  };
  const std::int64_t h = c.hidden_size;
  const std::int64_t q = c.num_attention_heads * c.head_dim;
  const std::int64_t kv = c.num_key_value_heads * c.head_dim;
  m->embed_ = load("model.embed_tokens.weight", {c.vocab_size, h});
  m->norm_ = load("model.norm.weight", {h});
  m->lm_head_ = c.tie_word_embeddings ? m->embed_ : load("lm_head.weight", {c.vocab_size, h});
  m->layers_.resize(static_cast<std::size_t>(c.num_hidden_layers));
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    auto& layer = m->layers_[static_cast<std::size_t>(i)];
    layer.input_norm = load(p + "input_layernorm.weight", {h});
    layer.post_norm = load(p + "post_attention_layernorm.weight", {h});
    // Projection t of this layer: weight [out, in], bias [out] when the config has one.
    auto linear = [&](LoraTarget t, std::int64_t out, std::int64_t in, bool bias) {
      const std::string name = hf_module_name(i, t);
      layer.proj[static_cast<int>(t)] = LoraLinear(
          load(name + ".weight", {out, in}), bias ? load(name + ".bias", {out}) : at::Tensor());
    };
    const bool qkv_bias = c.has_qkv_bias();
    linear(LoraTarget::kQ, q, h, qkv_bias);
    linear(LoraTarget::kK, kv, h, qkv_bias);
    linear(LoraTarget::kV, kv, h, qkv_bias);
    linear(LoraTarget::kO, h, q, c.attention_bias);
    linear(LoraTarget::kGate, c.intermediate_size, h, c.mlp_bias);
    linear(LoraTarget::kUp, c.intermediate_size, h, c.mlp_bias);
    linear(LoraTarget::kDown, h, c.intermediate_size, c.mlp_bias);
  }
  const auto inv =
      rope_inv_freq(c.rope_scaling, c.rope_theta, c.head_dim, c.max_position_embeddings, 0);
  m->inv_freq_ = torch::tensor(inv, torch::kFloat).to(device);
  detail::logger()->info("loaded {} ({} layers, hidden {}, {} parameters) on {} as {}, {} threads",
                         c.architecture, c.num_hidden_layers, c.hidden_size, c.num_parameters(),
                         options.device, options.dtype, threads);
  return m;
}

at::Tensor CausalLM::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                             KVCache* cache, std::span<const LoraWeights* const> adapters,
                             bool last_only) const {
  // The head of a decode step runs on decode_threads too (hidden_states sets the same scope).
  const bool small_call = input_ids.dim() == 2 && input_ids.numel() <= options_.decode_max_tokens;
  detail::ScopedIntraOpThreads threads_scope(small_call ? options_.decode_threads : 0);
  return logits(hidden_states(input_ids, attention_mask, cache, adapters, last_only));
}

at::Tensor CausalLM::logits(const at::Tensor& hidden) const {
  return torch::nn::functional::linear(hidden, lm_head_).to(torch::kFloat);
}

at::Tensor CausalLM::token_nll(const at::Tensor& hidden, const at::Tensor& targets) const {
  OAP_CHECK(hidden.dim() == 2 && hidden.size(1) == config_.hidden_size, InvalidArgument,
            "CausalLM::token_nll: hidden must be [N, " + std::to_string(config_.hidden_size) +
                "], got " + shape_str(hidden.sizes()));
  OAP_CHECK(targets.dim() == 1 && targets.size(0) == hidden.size(0), InvalidArgument,
            "CausalLM::token_nll: targets must be [" + std::to_string(hidden.size(0)) + "], got " +
                shape_str(targets.sizes()));
  const auto t = targets.to(hidden.device(), torch::kLong);
  // One reduction when every target is a token (the usual case); the element-wise search for
  // the offending one only when some is not.
  if (t.numel() > 0) {
    const auto [lo, hi] = at::aminmax(t);
    if (lo.item<std::int64_t>() < 0 || hi.item<std::int64_t>() >= config_.vocab_size) {
      const auto bad = t.ne(-100).logical_and(t.lt(0).logical_or(t.ge(config_.vocab_size)));
      OAP_CHECK(!bad.any().item<bool>(), InvalidArgument,
                "CausalLM::token_nll: target " +
                    std::to_string(t.masked_select(bad)[0].item<std::int64_t>()) +
                    " outside the vocabulary [0, " + std::to_string(config_.vocab_size) +
                    ") and not -100");
    }
  }
  return detail::token_nll(torch::nn::functional::linear(hidden, lm_head_), t);
}

at::Tensor CausalLM::hidden_states(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                   KVCache* cache, std::span<const LoraWeights* const> adapters,
                                   bool last_only) const {
  const auto& c = config_;
  OAP_CHECK(input_ids.dim() == 2 && input_ids.size(1) > 0, InvalidArgument,
            "CausalLM::forward: input_ids must be [B, T] with T > 0, got " +
                shape_str(input_ids.sizes()));
  const auto device = embed_.device();
  const auto dtype = embed_.scalar_type();
  const std::int64_t batch = input_ids.size(0);
  const std::int64_t t = input_ids.size(1);
  const std::int64_t past = cache != nullptr ? cache->length() : 0;
  const std::int64_t s = past + t;
  const bool small_call = batch * t <= options_.decode_max_tokens;
  detail::ScopedIntraOpThreads threads_scope(small_call ? options_.decode_threads : 0);
  OAP_CHECK(adapters.size() <= 1 || static_cast<std::int64_t>(adapters.size()) == batch,
            InvalidArgument,
            "CausalLM::forward: adapters must be empty, one, or one per row (" +
                std::to_string(batch) + "), got " + std::to_string(adapters.size()));
  // An adapter made for a model with another layer count would apply to some layers only; a
  // PEFT file covering only some layers still loads into a full-size set (pairs missing).
  for (std::size_t i = 0; i < adapters.size(); ++i) {
    OAP_CHECK(adapters[i] == nullptr || adapters[i]->num_layers() == c.num_hidden_layers,
              InvalidArgument,
              "CausalLM::forward: adapter " + std::to_string(i) + " has " +
                  std::to_string(adapters[i]->num_layers()) + " layers, the model " +
                  std::to_string(c.num_hidden_layers) + " (an adapter for another base model?)");
  }
  OAP_CHECK(cache == nullptr || cache->num_layers() == c.num_hidden_layers, InvalidArgument,
            "CausalLM::forward: KV cache has " + std::to_string(cache ? cache->num_layers() : 0) +
                " layers, the model " + std::to_string(c.num_hidden_layers));
  auto ids = input_ids.to(device, torch::kLong);
  {
    const auto [min_id, max_id] = at::aminmax(ids);
    const auto lo = min_id.item<std::int64_t>();
    const auto hi = max_id.item<std::int64_t>();
    OAP_CHECK(lo >= 0 && hi < c.vocab_size, InvalidArgument,
              "CausalLM::forward: token id " + std::to_string(lo < 0 ? lo : hi) +
                  " outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
  }

  // Positions and the additive attention mask [B, 1, T, S]. A step of one token without an
  // attention mask and within the sliding window sees every key: it gets no mask (adding zeros
  // changes nothing), which saves a decode step a dozen small ops.
  at::Tensor positions;  // [B, T] int64
  at::Tensor mask;       // [B, 1, T, S] in the model dtype; undefined: nothing masked
  const auto long_opts = torch::TensorOptions().dtype(torch::kLong).device(device);
  const bool windowed = c.sliding_window.has_value() && s > *c.sliding_window;
  if (attention_mask.defined() || t > 1 || windowed) {
    at::Tensor key_ok;  // [B, S] bool
    if (attention_mask.defined()) {
      OAP_CHECK(attention_mask.dim() == 2 && attention_mask.size(0) == batch &&
                    attention_mask.size(1) == s,
                InvalidArgument,
                "CausalLM::forward: attention_mask must be [B, past + T] = [" +
                    std::to_string(batch) + ", " + std::to_string(s) + "], got " +
                    shape_str(attention_mask.sizes()));
      key_ok = attention_mask.to(device).ne(0);
      // As HF generate(): position = number of real tokens before it; padding gets position 1.
      auto pos = key_ok.to(torch::kLong).cumsum(1) - 1;
      pos = pos.masked_fill(key_ok.logical_not(), 1);
      positions = pos.narrow(1, past, t);
    }
    const auto key_slot = torch::arange(s, long_opts).unsqueeze(0);             // [1, S]
    const auto query_slot = (torch::arange(t, long_opts) + past).unsqueeze(1);  // [T, 1]
    auto allowed = key_slot <= query_slot;                                      // [T, S]
    // As Hugging Face: the window counts cache slots (padding included), the query's own too.
    if (windowed) allowed = allowed.logical_and(key_slot > query_slot - *c.sliding_window);
    allowed = allowed.unsqueeze(0);                                            // [1, T, S]
    if (key_ok.defined()) allowed = allowed.logical_and(key_ok.unsqueeze(1));  // [B, T, S]
    const double lowest = dtype == torch::kBFloat16 ? -3.3895313892515355e38
                          : dtype == torch::kHalf   ? -65504.0
                                                    : -3.4028234663852886e38;
    mask = torch::zeros({batch, 1, t, s}, torch::TensorOptions().dtype(dtype).device(device))
               .masked_fill(allowed.logical_not().unsqueeze(1), lowest);
  }
  if (!positions.defined()) {
    positions = torch::arange(past, s, long_opts).unsqueeze(0).expand({batch, t});
  }

  // Rotary tables [B, T, hd] in float32, cast to the model dtype as HF does.
  at::Tensor inv_freq = inv_freq_;
  if (c.rope_scaling.type == RopeScaling::Type::kDynamic && s > c.max_position_embeddings) {
    inv_freq = torch::tensor(rope_inv_freq(c.rope_scaling, c.rope_theta, c.head_dim,
                                           c.max_position_embeddings, s),
                             torch::kFloat)
                   .to(device);
  }
  auto freqs = positions.to(torch::kFloat).unsqueeze(-1) * inv_freq.view({1, 1, -1});
  auto emb = torch::cat({freqs, freqs}, -1);
  auto cos = emb.cos().to(dtype);  // [B, T, hd]
  auto sin = emb.sin().to(dtype);

  const std::int64_t nh = c.num_attention_heads;
  const std::int64_t nkv = c.num_key_value_heads;
  const std::int64_t hd = c.head_dim;
  const std::int64_t groups = nh / nkv;
  const double scaling = 1.0 / std::sqrt(static_cast<double>(hd));

  auto x = torch::embedding(embed_, ids);  // [B, T, H]
  for (std::int64_t li = 0; li < c.num_hidden_layers; ++li) {
    const auto& layer = layers_[static_cast<std::size_t>(li)];
    auto proj = [&](LoraTarget target, const at::Tensor& in) {
      return apply(layer.proj[static_cast<int>(target)], in, adapters, li, target, cache);
    };
    auto hn = detail::rms_norm(x, layer.input_norm, c.rms_norm_eps);
    auto qh =
        detail::rope(proj(LoraTarget::kQ, hn).view({batch, t, nh, hd}), cos, sin).transpose(1, 2);
    auto kh =
        detail::rope(proj(LoraTarget::kK, hn).view({batch, t, nkv, hd}), cos, sin).transpose(1, 2);
    auto vh = proj(LoraTarget::kV, hn).view({batch, t, nkv, hd}).transpose(1, 2);
    if (cache != nullptr) std::tie(kh, vh) = cache->append(li, kh, vh);
    // Grouped-query attention without repeating K/V: query heads h*groups..h*groups+groups-1
    // share kv head h, so fold the group into the query length.
    auto qg = qh.reshape({batch, nkv, groups * t, hd});
    auto scores = torch::matmul(qg, kh.transpose(-1, -2)).view({batch, nh, t, s}) * scaling;
    if (mask.defined()) scores = scores + mask;
    auto probs = torch::softmax(scores, -1, torch::kFloat).to(dtype);
    auto ctx = torch::matmul(probs.view({batch, nkv, groups * t, s}), vh)
                   .view({batch, nh, t, hd})
                   .transpose(1, 2)
                   .reshape({batch, t, nh * hd});
    x = x + proj(LoraTarget::kO, ctx);
    hn = detail::rms_norm(x, layer.post_norm, c.rms_norm_eps);
    auto gated = detail::swiglu(proj(LoraTarget::kGate, hn), proj(LoraTarget::kUp, hn));
    x = x + proj(LoraTarget::kDown, gated);
  }
  if (last_only) x = x.narrow(1, t - 1, 1);
  return detail::rms_norm(x, norm_, c.rms_norm_eps);
}

std::vector<std::pair<std::string, at::Tensor>> CausalLM::named_weights() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.emplace_back("model.embed_tokens.weight", embed_);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    const auto& layer = layers_[i];
    out.emplace_back(p + "input_layernorm.weight", layer.input_norm);
    out.emplace_back(p + "post_attention_layernorm.weight", layer.post_norm);
    for (int t = 0; t < kNumLoraTargets; ++t) {
      const std::string name =
          hf_module_name(static_cast<std::int64_t>(i), static_cast<LoraTarget>(t));
      out.emplace_back(name + ".weight", layer.proj[t].weight());
      if (layer.proj[t].bias().defined()) out.emplace_back(name + ".bias", layer.proj[t].bias());
    }
  }
  out.emplace_back("model.norm.weight", norm_);
  if (!config_.tie_word_embeddings) out.emplace_back("lm_head.weight", lm_head_);
  return out;
}

}  // namespace oap
