// personalization_eval: does treating deviations as signals help? The same event streams
// (scripts/eval/make_eval_streams.py), base model and trainer through four adaptation policies
// (static, periodic, noise-filtered, outlier-aware = the Personalizer as shipped), with the
// metrics of issue 12, written as docs/evaluation.json. scripts/eval/run_eval.sh drives it.

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "oap/core/error.hpp"
#include "oap/core/parse_number.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/tokenizer.hpp"
#include "personalization_eval_harness.hpp"

namespace {

constexpr const char* kUsage =
    "Usage: personalization_eval --model DIR --out FILE [OPTIONS] STREAM.jsonl...\n\n"
    "Runs every stream (one per seed; each with its STREAM.users.json) through the four\n"
    "policies and writes the metrics (docs/evaluation.md) as JSON.\n\n"
    "  --model DIR       Hugging Face model folder (the base model)\n"
    "  --out FILE        the JSON report\n"
    "  --threads N       intra-op threads of LibTorch (default 2)\n"
    "  --quick           one user of each kind per stream, shorter reference training\n"
    "  --config FILE     JSON: Personalizer sections (detect, policy, adapters, text_features,\n"
    "                    personalizer) for every policy, and \"harness\" (period, window,\n"
    "                    heldout_every, static_after, reference_steps, delay_tolerance,\n"
    "                    blip_horizon)\n"
    "  --work-dir DIR    scratch data directories (default: a new folder in the temp dir)\n"
    "  --policies LIST   comma-separated policies to run (default: static,periodic,\n"
    "                    noise_filtered,outlier_aware); \"oracle\" is a diagnostic that is\n"
    "                    told each shift user's shift and updates from its first new event\n"
    "                    as the Personalizer plans a new context; \"oracle_window\" updates\n"
    "                    then on periodic's data (the newest events, old and new alike)\n"
    "  --dump FILE       also write every run event by event (NLL, probe NLLs, updates)\n"
    "  --quiet           no progress lines\n";

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "personalization_eval: " << what << "\n\n" << kUsage;
  std::exit(2);
}

template <typename T>
T number_arg(const std::string& flag, const std::string& value) {
  auto v = oap::parse_number<T>(value);
  if (!v) usage_error(flag + " takes a number, not \"" + value + "\"");
  return *v;
}

void apply_config(const nlohmann::json& j, oap::eval::HarnessOptions& o) {
  static const std::set<std::string> kSections = {"detect",        "policy",       "adapters",
                                                  "text_features", "personalizer", "harness"};
  for (const auto& [key, value] : j.items()) {
    // Keys starting with "_" are comments.
    if (!kSections.count(key) && key.rfind('_', 0) != 0) {
      throw oap::ConfigError("--config: unknown section \"" + key +
                             "\" (sections: detect, policy, adapters, text_features, "
                             "personalizer, harness)");
    }
  }
  auto& p = o.personalizer;
  if (j.contains("detect")) {  // over the Personalizer's defaults, as oap run reads it
    p.detect = oap::personalizer_detect_defaults();
    j.at("detect").get_to(p.detect);
  }
  if (j.contains("policy")) p.policy = j.at("policy").get<oap::DeviationPolicyOptions>();
  if (j.contains("adapters")) p.adapters = j.at("adapters").get<oap::AdapterManagerOptions>();
  if (j.contains("text_features")) {
    p.text_features = j.at("text_features").get<oap::TextFeatureOptions>();
  }
  if (j.contains("personalizer")) {
    p.personalizer = j.at("personalizer").get<oap::UpdatePlanOptions>();
    p.personalizer.wait_for_updates = true;
  }
  if (j.contains("harness")) {
    const auto& h = j.at("harness");
    o.period = h.value("period", o.period);
    o.window = h.value("window", o.window);
    o.heldout_every = h.value("heldout_every", o.heldout_every);
    o.static_after = h.value("static_after", o.static_after);
    o.reference_steps = h.value("reference_steps", o.reference_steps);
    o.delay_tolerance = h.value("delay_tolerance", o.delay_tolerance);
    o.blip_horizon = h.value("blip_horizon", o.blip_horizon);
  }
}

// Written beside and renamed over: a reader sees the old or the new file, never half.
void write_json(const std::string& path, const nlohmann::json& j) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(1) << "\n";
    if (!out) throw oap::IoError("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

// "a,b,c" -> the policies of those names, in that order.
std::vector<oap::eval::Policy> policies_arg(const std::string& list) {
  std::vector<oap::eval::Policy> out;
  std::size_t from = 0;
  while (from <= list.size()) {
    const auto to = std::min(list.find(',', from), list.size());
    const auto name = list.substr(from, to - from);
    const auto p = oap::eval::policy_named(name);
    if (!p) usage_error("--policies: unknown policy \"" + name + "\"");
    if (std::find(out.begin(), out.end(), *p) != out.end()) {
      usage_error("--policies: \"" + name + "\" given twice");
    }
    out.push_back(*p);
    from = to + 1;
  }
  return out;
}

// --quick: the first user of each kind.
void keep_one_per_kind(oap::eval::Stream& s) {
  std::map<std::string, oap::UserId> first;
  for (const auto& [user, truth] : s.users) first.emplace(truth.kind, user);
  std::map<oap::UserId, oap::eval::UserTruth> kept;
  for (const auto& [kind, user] : first) kept[user] = s.users.at(user);
  std::vector<oap::Event> events;
  for (auto& e : s.events) {
    if (kept.count(e.user)) events.push_back(std::move(e));
  }
  s.users = std::move(kept);
  s.events = std::move(events);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir, out_path, config_path, work_dir, dump_path;
  int threads = 2;
  bool quick = false;
  std::vector<std::filesystem::path> streams;
  std::vector<oap::eval::Policy> policies(std::begin(oap::eval::kPolicies),
                                          std::end(oap::eval::kPolicies));
  oap::eval::HarnessOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--model") {
      model_dir = value();
    } else if (a == "--out") {
      out_path = value();
    } else if (a == "--threads") {
      threads = number_arg<int>(a, value());
    } else if (a == "--config") {
      config_path = value();
    } else if (a == "--work-dir") {
      work_dir = value();
    } else if (a == "--dump") {
      dump_path = value();
    } else if (a == "--policies") {
      policies = policies_arg(value());
    } else if (a == "--quick") {
      quick = true;
    } else if (a == "--quiet") {
      options.verbose = false;
    } else if (a.rfind("--", 0) == 0) {
      usage_error("unknown option " + a);
    } else {
      streams.emplace_back(a);
    }
  }
  if (model_dir.empty()) usage_error("--model is required");
  if (out_path.empty()) usage_error("--out is required");
  if (streams.empty()) usage_error("no stream files given");
  if (threads < 1) usage_error("--threads must be >= 1");
  try {
    nlohmann::json config = nlohmann::json::object();
    if (!config_path.empty()) {
      std::ifstream in(config_path);
      if (!in) usage_error("cannot read " + config_path);
      config = nlohmann::json::parse(in);
      apply_config(config, options);
    }
    if (quick) options.reference_steps = std::min(options.reference_steps, 60);
    const bool own_work_dir = work_dir.empty();
    options.work_dir =
        own_work_dir
            ? std::filesystem::temp_directory_path() /
                  ("oap-eval-" +
                   std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()))
            : std::filesystem::path(work_dir);
    std::filesystem::create_directories(options.work_dir);
    // Explicit thread counts: LibTorch's intra-op pool (CausalLMOptions::num_threads sets it
    // process-wide) and one inter-op thread.
    at::set_num_interop_threads(1);
    auto model = std::shared_ptr<const oap::CausalLM>(
        oap::CausalLM::load(model_dir, {.num_threads = threads}));
    auto tokenizer = std::shared_ptr<const oap::Tokenizer>(oap::Tokenizer::load(model_dir));

    const auto start = std::chrono::steady_clock::now();
    std::vector<nlohmann::json> per_stream, curves;
    std::vector<std::string> names;
    nlohmann::json dump = nlohmann::json::object();
    for (const auto& path : streams) {
      auto stream = oap::eval::load_stream(path);
      if (quick) keep_one_per_kind(stream);
      names.push_back(stream.name);
      if (options.verbose) {
        std::cerr << stream.name << ": " << stream.users.size() << " users, "
                  << stream.events.size() << " events\n";
      }
      const auto refs = oap::eval::train_references(stream, model, tokenizer, options);
      nlohmann::json metrics = nlohmann::json::object(), curve = nlohmann::json::object();
      for (auto policy : policies) {
        const auto run = oap::eval::run_policy(policy, stream, model, tokenizer, options);
        metrics[oap::eval::policy_name(policy)] =
            oap::eval::stream_metrics(run, stream, refs, options);
        curve[oap::eval::policy_name(policy)] = oap::eval::stream_curves(run, stream, refs);
        if (!dump_path.empty()) {
          auto& d = dump[stream.name][oap::eval::policy_name(policy)];
          for (const auto& [user, u] : run.users) {
            d[user] = {{"nll", u.nll},
                       {"probe_new", u.probe_new},
                       {"probe_normal", u.probe_normal},
                       {"probe_new_start", u.probe_new_start},
                       {"probe_normal_start", u.probe_normal_start},
                       {"update_events", u.update_events},
                       {"update_steps", u.update_steps},
                       {"update_accepted", u.update_accepted},
                       {"update_reactive", u.update_reactive}};
          }
        }
      }
      nlohmann::json ref_json = nlohmann::json::object();
      for (const auto& [user, r] : refs) {
        ref_json[user] = {{"nll", r.nll}, {"base_nll", r.base_nll}, {"seconds", r.seconds}};
      }
      metrics["references"] = ref_json;
      per_stream.push_back(metrics);
      curves.push_back(curve);
    }
    auto report = oap::eval::aggregate(
        per_stream, curves, std::filesystem::path(model_dir).filename().string(), policies);
    nlohmann::json per_seed = nlohmann::json::array();
    for (std::size_t i = 0; i < per_stream.size(); ++i) {
      per_seed.push_back({{"stream", names[i]}, {"metrics", per_stream[i]}});
    }
    report["per_seed"] = per_seed;
    nlohmann::json policy_names = nlohmann::json::array();
    for (auto policy : policies) policy_names.push_back(oap::eval::policy_name(policy));
    report["setup"] = {
        {"quick", quick},
        {"policies", policy_names},
        {"threads", threads},
        {"streams", names},
        {"static_after", options.static_after},
        {"period", options.period},
        {"window", options.window},
        {"heldout_every", options.heldout_every},
        {"reference_steps", options.reference_steps},
        {"delay_tolerance", options.delay_tolerance},
        {"blip_horizon", options.blip_horizon},
        {"config", config},
        {"wall_seconds",
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
    write_json(out_path, report);
    if (!dump_path.empty()) write_json(dump_path, dump);
    if (own_work_dir) std::filesystem::remove_all(options.work_dir);
    std::printf("%-16s %10s %10s %10s %10s %10s %8s\n", "policy", "delay", "blip", "false_upd",
                "steps", "mean_nll", "wall_s");
    for (auto policy : policies) {
      const auto& p = report.at("policies").at(oap::eval::policy_name(policy));
      auto num = [](const nlohmann::json& j) { return j.is_number() ? j.get<double>() : NAN; };
      std::printf("%-16s %10.2f %10.3f %10.2f %10.1f %10.4f %8.1f\n",
                  oap::eval::policy_name(policy), num(p.at("adaptation_delay")),
                  num(p.at("blip_damage")), num(p.at("false_updates")), num(p.at("update_steps")),
                  num(p.at("mean_nll")), num(p.at("extra").at("wall_seconds").at("mean")));
    }
    std::printf("wrote %s\n", out_path.c_str());
  } catch (const std::exception& e) {
    std::cerr << "personalization_eval: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
