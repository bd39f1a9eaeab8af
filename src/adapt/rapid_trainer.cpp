#include "oap/adapt/rapid_trainer.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

#include "oap/core/error.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/scorer.hpp"

namespace oap {
namespace {

using Tokens = std::vector<std::int32_t>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The last max_tokens ids of each sample (the most recent text counts).
std::vector<Tokens> cut(const std::vector<TrainingSample>& samples, std::size_t max_tokens) {
  std::vector<Tokens> out;
  out.reserve(samples.size());
  for (const auto& s : samples) {
    const std::size_t n = std::min(s.tokens.size(), max_tokens);
    out.emplace_back(s.tokens.end() - static_cast<long>(n), s.tokens.end());
  }
  return out;
}

void check_samples(const std::vector<TrainingSample>& samples, const char* which) {
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto& s = samples[i];
    OAP_CHECK(s.tokens.size() >= 2, InvalidArgument,
              std::string("RapidTrainer: ") + which + " sample " + std::to_string(i) + " has " +
                  std::to_string(s.tokens.size()) + " token(s); at least 2 are needed");
    OAP_CHECK(std::isfinite(s.weight) && s.weight >= 0, InvalidArgument,
              std::string("RapidTrainer: ") + which + " sample " + std::to_string(i) +
                  " has weight " + std::to_string(s.weight) + "; weights must be finite and >= 0");
  }
}

struct GateLosses {
  double trigger = kNaN;  // weighted mean NLL of the trigger samples
  double heldout = kNaN;  // mean NLL of the held-out samples; NaN without any
};

// The gate's losses under an adapter (no autograd). Trigger and held-out samples are scored
// together, shortest first, in batches of batch_size: one pass over all of them, with little
// padding (a batch pads to its longest sample).
GateLosses gate_losses(const CausalLM& model, const std::vector<Tokens>& trigger,
                       const std::vector<double>& trigger_weights,
                       const std::vector<Tokens>& heldout, const LoraWeights& adapter,
                       std::size_t batch_size) {
  std::vector<const Tokens*> all;
  for (const auto& t : trigger) all.push_back(&t);
  for (const auto& h : heldout) all.push_back(&h);
  std::vector<std::size_t> order(all.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return all[a]->size() < all[b]->size(); });
  std::vector<Tokens> sorted;
  sorted.reserve(all.size());
  for (const std::size_t i : order) sorted.push_back(*all[i]);
  const LoraWeights* one[] = {&adapter};
  const auto scores = score(model, sorted, one, batch_size);
  std::vector<double> nll(all.size());
  for (std::size_t k = 0; k < order.size(); ++k) nll[order[k]] = scores[k].mean_nll;

  GateLosses out;
  double total = 0.0, weight = 0.0;
  for (std::size_t i = 0; i < trigger.size(); ++i) {
    total += trigger_weights[i] * nll[i];
    weight += trigger_weights[i];
  }
  if (weight > 0) out.trigger = total / weight;
  if (!heldout.empty()) {
    out.heldout = std::accumulate(nll.begin() + static_cast<long>(trigger.size()), nll.end(), 0.0) /
                  static_cast<double>(heldout.size());
  }
  return out;
}

// Per-sample mean token NLL [n] of left-padded sequences, with autograd into the adapter.
at::Tensor sample_nll(const CausalLM& model, const std::vector<const Tokens*>& seqs,
                      const LoraWeights& adapter) {
  std::size_t len = 0;
  for (const auto* s : seqs) len = std::max(len, s->size());
  const auto n = static_cast<std::int64_t>(seqs.size());
  const auto t = static_cast<std::int64_t>(len);
  auto ids = torch::zeros({n, t}, torch::kLong);
  auto mask = torch::zeros({n, t}, torch::kLong);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto& s = *seqs[static_cast<std::size_t>(i)];
    const auto size = static_cast<std::int64_t>(s.size());
    ids[i]
        .narrow(0, t - size, size)
        .copy_(torch::tensor(std::vector<std::int64_t>(s.begin(), s.end())));
    mask[i].narrow(0, t - size, size).fill_(1);
  }
  const LoraWeights* one[] = {&adapter};
  auto hidden = model.hidden_states(ids, mask, nullptr, one);  // [n, t, H]
  // Position k predicts k + 1; with left padding k is real exactly when k + 1 is a real,
  // predicted token. The last position predicts nothing: the head never sees it.
  auto valid = mask.narrow(1, 0, t - 1).to(hidden.device()).to(torch::kBool);
  auto target = ids.narrow(1, 1, t - 1).to(hidden.device()).masked_fill(~valid, -100);
  auto nll = model.token_nll(hidden.narrow(1, 0, t - 1).reshape({-1, hidden.size(2)}),
                             target.reshape({-1}));
  return nll.view({n, t - 1}).sum(1) / valid.sum(1).to(torch::kFloat);
}

// A copy of w with every pair's dropout set (tensors shared, not copied).
LoraWeights with_dropout(const LoraWeights& w, double dropout) {
  LoraWeights out(w.num_layers());
  for (std::int64_t layer = 0; layer < w.num_layers(); ++layer) {
    for (int t = 0; t < kNumLoraTargets; ++t) {
      if (const LoraPair* p = w.get(layer, static_cast<LoraTarget>(t))) {
        LoraPair q = *p;
        q.dropout = dropout;
        out.set(layer, static_cast<LoraTarget>(t), q);
      }
    }
  }
  return out;
}

std::string fmt(double v) {
  std::ostringstream s;
  s.precision(4);
  s << v;
  return s.str();
}

// The gate: sets report.accepted and report.reason.
void judge(UpdateReport& r, const RapidTrainerOptions& o, bool weights_finite) {
  const bool has_heldout = r.heldout_samples > 0;
  std::string losses =
      "trigger loss " + fmt(r.trigger_loss_before) + " -> " + fmt(r.trigger_loss_after);
  if (has_heldout) {
    losses += ", held-out " + fmt(r.heldout_loss_before) + " -> " + fmt(r.heldout_loss_after);
  }
  if (!weights_finite || !std::isfinite(r.trigger_loss_after) ||
      (has_heldout && !std::isfinite(r.heldout_loss_after))) {
    r.accepted = false;
    r.reason = "rejected: the update produced non-finite weights or losses (" + losses +
               "; learning rate too high?)";
    return;
  }
  if (o.require_trigger_improvement && !(r.trigger_loss_after < r.trigger_loss_before)) {
    r.accepted = false;
    r.reason = "rejected: the trigger loss did not go down (" + losses + ")";
    return;
  }
  if (has_heldout) {
    const double limit =
        r.heldout_loss_before * (1 + o.heldout_tolerance) + o.heldout_tolerance_abs;
    if (r.heldout_loss_after > limit) {
      r.accepted = false;
      r.reason =
          "rejected: held-out loss got worse beyond tolerance " + fmt(limit) + " (" + losses + ")";
      return;
    }
    r.accepted = true;
    r.reason = "accepted: " + losses + " within tolerance " + fmt(limit);
    return;
  }
  r.accepted = true;
  r.reason = "accepted: " + losses + " (no held-out samples)";
}

}  // namespace

RapidTrainer::RapidTrainer(std::shared_ptr<const CausalLM> model, RapidTrainerOptions options)
    : model_(std::move(model)), options_(std::move(options)) {
  OAP_CHECK(model_ != nullptr, InvalidArgument, "RapidTrainer needs a model");
  options_.validate();
}

TrainingResult RapidTrainer::train(const LoraWeights& start, const TrainingData& data,
                                   double lora_dropout) const {
  return train(start, data, options_, lora_dropout);
}

TrainingResult RapidTrainer::train(const LoraWeights& start, const TrainingData& data,
                                   const RapidTrainerOptions& o, double lora_dropout) const {
  const auto t0 = std::chrono::steady_clock::now();
  o.validate();
  torch::AutoGradMode grad_mode(true);  // the caller may be in a NoGradGuard
  const auto& model = *model_;
  OAP_CHECK(start.num_layers() == model.config().num_hidden_layers, InvalidArgument,
            "RapidTrainer: the adapter has " + std::to_string(start.num_layers()) +
                " layers, the model " + std::to_string(model.config().num_hidden_layers));
  OAP_CHECK(!data.trigger.empty(), InvalidArgument, "RapidTrainer: no trigger samples");
  OAP_CHECK(lora_dropout >= 0 && lora_dropout < 1, InvalidArgument,
            "RapidTrainer: lora_dropout must be in [0, 1), got " + std::to_string(lora_dropout));
  check_samples(data.trigger, "trigger");
  check_samples(data.replay, "replay");
  check_samples(data.heldout, "held-out");

  const auto trigger = cut(data.trigger, o.max_tokens);
  const auto replay = cut(data.replay, o.max_tokens);
  const auto heldout = cut(data.heldout, o.max_tokens);
  std::vector<double> trigger_w;
  for (const auto& s : data.trigger) trigger_w.push_back(s.weight);

  TrainingResult result{start.clone(), {}};
  UpdateReport& r = result.report;
  r.trigger_samples = trigger.size();
  r.replay_samples = replay.size();
  r.heldout_samples = heldout.size();
  const auto before = gate_losses(model, trigger, trigger_w, heldout, start, o.batch_size);
  r.trigger_loss_before = before.trigger;
  r.heldout_loss_before = before.heldout;
  r.heldout_loss_after = r.heldout_loss_before;
  r.trigger_loss_after = r.trigger_loss_before;

  const double weight_sum = std::accumulate(trigger_w.begin(), trigger_w.end(), 0.0);
  if (!(weight_sum > 0)) {
    r.accepted = false;
    r.reason = "rejected: the trigger samples' weights sum to 0 (nothing to learn)";
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return result;
  }

  // Samples per step: as many trigger samples as fit beside their replay share.
  const double ratio = replay.empty() ? 0.0 : o.replay_ratio;
  const std::size_t n_trig = std::min(
      trigger.size(),
      std::max<std::size_t>(1, static_cast<std::size_t>(
                                   std::floor(static_cast<double>(o.batch_size) / (1 + ratio)))));
  const std::size_t n_rep =
      ratio > 0 ? std::min(replay.size(), std::max<std::size_t>(1, o.batch_size - n_trig)) : 0;
  std::vector<std::size_t> replay_order(replay.size());
  std::iota(replay_order.begin(), replay_order.end(), 0);
  std::mt19937_64 rng(o.seed);
  std::shuffle(replay_order.begin(), replay_order.end(), rng);

  LoraWeights trained = with_dropout(result.weights, lora_dropout);
  auto params = trained.parameters();
  for (auto& p : params) p.requires_grad_(true);
  torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(o.learning_rate)
                                            .betas({o.beta1, o.beta2})
                                            .eps(o.epsilon)
                                            .weight_decay(o.weight_decay));
  double best = std::numeric_limits<double>::infinity();
  int since_best = 0;
  for (int step = 0; step < o.steps; ++step) {
    std::vector<const Tokens*> batch;
    std::vector<double> w;
    for (std::size_t k = 0; k < n_trig; ++k) {
      const std::size_t i = (static_cast<std::size_t>(step) * n_trig + k) % trigger.size();
      batch.push_back(&trigger[i]);
      w.push_back(trigger_w[i]);
    }
    for (std::size_t k = 0; k < n_rep; ++k) {
      batch.push_back(
          &replay[replay_order[(static_cast<std::size_t>(step) * n_rep + k) % replay.size()]]);
    }
    const auto per_sample = sample_nll(model, batch, trained);  // [n_trig + n_rep]
    auto wt = torch::tensor(w, torch::kDouble).to(torch::kFloat).to(per_sample.device());
    const double step_weight = std::accumulate(w.begin(), w.end(), 0.0);
    auto trig_part = (per_sample.narrow(0, 0, static_cast<std::int64_t>(n_trig)) * wt).sum();
    auto loss = trig_part;
    double denominator = step_weight;
    if (n_rep > 0) {
      const double share = ratio * static_cast<double>(n_trig);
      loss = loss + share * per_sample
                                .narrow(0, static_cast<std::int64_t>(n_trig),
                                        static_cast<std::int64_t>(n_rep))
                                .mean();
      denominator += share;
    }
    if (!(step_weight > 0)) continue;  // this step's trigger samples all weigh 0
    loss = loss / denominator;
    const double trig_loss = trig_part.item<double>() / step_weight;
    if (!std::isfinite(trig_loss) || !std::isfinite(loss.item<double>())) break;
    optimizer.zero_grad();
    loss.backward();
    if (o.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(params, o.max_grad_norm);
    optimizer.step();
    ++r.steps;
    if (trig_loss < best - o.min_improvement) {
      best = trig_loss;
      since_best = 0;
    } else if (o.patience > 0 && ++since_best >= o.patience) {
      break;
    }
  }

  bool finite = true;
  for (auto& p : params) {
    p.requires_grad_(false);
    p.mutable_grad().reset();
    finite = finite && torch::isfinite(p).all().item<bool>();
  }
  // result.weights shares the trained tensors; its pairs carry no dropout.
  const auto after = gate_losses(model, trigger, trigger_w, heldout, result.weights, o.batch_size);
  r.trigger_loss_after = after.trigger;
  r.heldout_loss_after = after.heldout;
  judge(r, o, finite);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace oap
