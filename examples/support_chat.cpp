// A support desk built on the Personalizer: each customer's messages (with how long they
// waited and how many messages they sent in the session) stream in; the assistant drafts
// replies with the customer's own adapter, and when a customer deviates sharply from their own
// history (the policy's "escalate") the conversation is handed to a human agent instead.
//
//   oap_support_chat MODEL_DIR DATA_DIR
//
// Prints every decision other than "ignore", the hand-overs, and a draft reply per customer who
// was not handed over. Exit status 0 when the run completed.
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "oap/core/error.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/tokenizer.hpp"
#include "oap/personalizer.hpp"

namespace {

// The hand-over queue of the application: the Personalizer calls on_deviation on the thread
// that called observe(), so a real desk with many threads needs the lock.
class HumanQueue {
 public:
  void hand_over(const std::string& customer, std::uint64_t event, const std::string& why) {
    std::lock_guard lock(mutex_);
    if (!first_.contains(customer)) first_[customer] = event;
    std::cout << ">> " << customer << " (message " << event << ") handed to a human agent: " << why
              << "\n";
  }
  bool contains(const std::string& customer) {
    std::lock_guard lock(mutex_);
    return first_.contains(customer);
  }
  std::map<std::string, std::uint64_t> handed_over() {
    std::lock_guard lock(mutex_);
    return first_;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::uint64_t> first_;  // customer -> first escalated message
};

struct Customer {
  std::string name;
  std::vector<std::string> messages;  // what they usually write
  int angry_from;                     // the message from which they are furious; -1: never
};

const std::vector<std::string> kAngry = {
    "this is the third time I am writing and nobody has fixed my broken order",
    "I want a refund today or I will cancel every subscription I have with you",
    "your support is useless and I have waited two hours for an answer again"};

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 3) {
    std::cerr << "usage: oap_support_chat MODEL_DIR DATA_DIR\n";
    return 2;
  }
  std::shared_ptr<const oap::CausalLM> model = oap::CausalLM::load(argv[1], {.num_threads = 2});
  std::shared_ptr<const oap::Tokenizer> tokenizer = oap::Tokenizer::load(argv[1]);

  oap::PersonalizerOptions options;
  options.data_dir = argv[2];
  options.policy.initial_adapt_after = 12;
  // Escalate a message that is extremely unlike the customer's own history (p < 1e-4), and a
  // sustained change of behaviour; at most once every 10 messages per customer.
  options.policy.escalate_p = 1e-4;
  options.policy.escalate_on_sustained = true;
  options.policy.escalate_cooldown_events = 10;
  oap::Personalizer desk(options, model, tokenizer);

  HumanQueue humans;
  desk.on_deviation([&](const oap::Event& event, const oap::Personalizer::Observation& o) {
    if (o.decision.action == oap::Action::kEscalate) {
      humans.hand_over(event.user, o.event, o.decision.reason);
    } else {
      std::cout << "   " << event.user << " (message " << o.event
                << "): " << oap::action_name(o.decision.action) << ", " << o.decision.reason
                << "\n";
    }
  });

  const std::vector<Customer> customers = {
      {"amir",
       {"could you tell me when my parcel with the garden chairs will arrive",
        "thanks, the delivery window on friday morning works for me",
        "can I change the colour of the cushions before it ships"},
       -1},
      {"bea",
       {"hello, I would like to update the billing address on my account",
        "thank you, could you also send the invoice for last month",
        "that is all for today, have a nice evening"},
       20},
      {"chen",
       {"is the blue kettle compatible with the old base station",
        "great, I will order the spare filter as well", "please add a gift note to the order"},
       -1},
  };
  const std::int64_t start = 1'767'225'600;  // 2026-01-01T00:00:00Z
  for (int i = 0; i < 28; ++i) {
    for (const auto& c : customers) {
      const bool angry = c.angry_from >= 0 && i >= c.angry_from;
      // A deterministic wobble, so the example prints the same thing every run.
      const float wobble = static_cast<float>((i * 7 + static_cast<int>(c.name.size())) % 5) - 2;
      oap::Event e;
      e.user = c.name;
      e.timestamp = oap::timestamp_from_micros((start + i * 86'400) * 1'000'000);
      e.features = {(angry ? 95.0f : 6.0f) + wobble,       // minutes waited for an answer
                    (angry ? 14.0f : 3.0f) + wobble / 2};  // messages in the session
      e.text = angry ? kAngry[i % kAngry.size()] : c.messages[i % c.messages.size()];
      desk.observe(e);
    }
  }
  desk.wait_idle();

  std::cout << "\nhanded over:";
  for (const auto& [customer, event] : humans.handed_over()) {
    std::cout << " " << customer << " (from message " << event << ")";
  }
  std::cout << "\n";
  oap::GenerationOptions generation;
  generation.max_new_tokens = 10;
  for (const auto& c : customers) {
    if (humans.contains(c.name)) continue;
    const auto draft = desk.generate(c.name, "thank you for", generation);
    std::cout << "draft for " << c.name << ": thank you for" << draft.text << "\n";
  }
  const auto stats = desk.stats();
  std::cout << "events " << stats.events << ", escalations "
            << stats.by_action[static_cast<int>(oap::Action::kEscalate)] << ", updates accepted "
            << stats.updates_accepted << "\n";
  return 0;
} catch (const oap::Error& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 1;
}
