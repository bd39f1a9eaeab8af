// The C++ quick start (docs/quickstart.md): one user's behaviour goes in, their deviations are
// detected and decided on, their LoRA adapter is updated, personalized generation comes out.
//
//   oap_quickstart MODEL_DIR DATA_DIR
//
// MODEL_DIR: a Hugging Face folder (examples/models/tiny-en works). DATA_DIR: where the
// pipeline keeps everything (history, detector state, adapters, audit trail); run it twice on
// the same folder and the second run continues where the first stopped.
#include <iostream>
#include <memory>
#include <string>

#include "oap/core/error.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/tokenizer.hpp"
#include "oap/personalizer.hpp"

int main(int argc, char** argv) try {
  if (argc != 3) {
    std::cerr << "usage: oap_quickstart MODEL_DIR DATA_DIR\n";
    return 2;
  }
  // 1. The base model, shared by every user (read-only; CPU, 2 threads).
  std::shared_ptr<const oap::CausalLM> model = oap::CausalLM::load(argv[1], {.num_threads = 2});
  std::shared_ptr<const oap::Tokenizer> tokenizer = oap::Tokenizer::load(argv[1]);

  // 2. The pipeline in a data directory. Every option has a default (docs/configuration.md);
  //    here the first profile update comes after 10 events instead of 20.
  oap::PersonalizerOptions options;
  options.data_dir = argv[2];
  options.policy.initial_adapt_after = 10;
  oap::Personalizer personalizer(options, model, tokenizer);

  // 3. The application's hook: every decision other than "ignore" (escalate is the cue to hand
  //    the user to a human).
  personalizer.on_deviation([](const oap::Event& event, const oap::Personalizer::Observation& o) {
    std::cout << event.user << " event " << o.event << ": " << oap::action_name(o.decision.action)
              << " (" << o.decision.reason << ")\n";
  });

  // 4. Behaviour events: numeric features (minutes in the session, messages sent) and the text
  //    the user wrote. For 24 events alice asks about cooking, then she switches to money, and
  //    her sessions get much longer.
  const char* cooking[] = {"how long should rice simmer before the water is gone",
                           "can I bake bread with whole wheat flour and honey",
                           "what spices go well with roasted carrots and onions",
                           "is butter or oil better for frying eggs in a pan"};
  const char* money[] = {"how much of my salary should go into a savings account",
                         "what is the interest rate on a fixed deposit at the bank",
                         "should I pay off the loan before buying shares",
                         "how do I budget for rent and bills each month"};
  const std::int64_t start = 1'767'225'600;  // 2026-01-01T00:00:00Z
  for (int i = 0; i < 32; ++i) {
    const bool shifted = i >= 24;
    oap::Event e;
    e.user = "alice";
    e.timestamp = oap::timestamp_from_micros((start + i * 3600) * 1'000'000);
    e.features = {static_cast<float>((shifted ? 45.0 : 12.0) + (i * 7 % 5)),
                  static_cast<float>(8 + i % 3)};
    e.text = shifted ? money[i % 4] : cooking[i % 4];
    personalizer.observe(e);
  }

  // 5. Updates run on a background worker; wait for them, then generate with alice's adapter.
  personalizer.wait_idle();
  const auto stats = personalizer.stats();
  std::cout << "events " << stats.events << ", updates accepted " << stats.updates_accepted
            << ", rejected " << stats.updates_rejected << "\n";
  oap::GenerationOptions generation;  // greedy by default
  generation.max_new_tokens = 12;
  const auto reply = personalizer.generate("alice", "how much", generation);
  std::cout << "alice> how much" << reply.text << "\n";
  std::cout << "mean NLL of a money question under alice's adapter: "
            << personalizer.score("alice", "how much should I save from my salary").mean_nll
            << "\n";
  return 0;
} catch (const oap::Error& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
