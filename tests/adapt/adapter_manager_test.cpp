#include "oap/adapt/adapter_manager.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <atomic>
#include <fstream>
#include <set>
#include <thread>

#include "adapt/adapt_test_util.hpp"
#include "oap/core/error.hpp"
#include "oap/llm/safetensors.hpp"

#ifndef OAP_SOURCE_DIR
#error "OAP_SOURCE_DIR must be defined by the build"
#endif

namespace oap {
namespace {

using ::testing::HasSubstr;
using testing::style_samples;
using testing::style_text;
using testing::TempDir;

using Seqs = std::vector<std::vector<std::int32_t>>;

// Bit-exact equality of two scorings.
bool same_scores(const std::vector<SequenceScore>& a, const std::vector<SequenceScore>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].logprobs != b[i].logprobs) return false;
  }
  return true;
}

bool same_weights(const LoraWeights& a, const LoraWeights& b) {
  const auto pa = a.parameters(), pb = b.parameters();
  if (pa.size() != pb.size()) return false;
  for (std::size_t i = 0; i < pa.size(); ++i) {
    if (!torch::equal(pa[i], pb[i])) return false;
  }
  return true;
}

class AdapterManagerTest : public ::testing::Test {
 protected:
  AdapterManagerTest() {
    options_.trainer.learning_rate = 1e-2;
    options_.lora.rank = 4;
  }

  // A manager over the test's store. A second manager over the same store starts with nothing
  // in memory: everything it serves is read back from the files.
  std::unique_ptr<AdapterManager> open(const AdapterManagerOptions& o) {
    if (!store_) store_ = open_adapter_store(dir_.path() / "adapters", o.store);
    return std::make_unique<AdapterManager>(model_, store_, o);
  }
  std::unique_ptr<AdapterManager> open() { return open(options_); }
  // Closes the store (its files stay), so that the next open() reopens it from disk.
  void close_store() { store_.reset(); }

  TrainingData shift_data(std::uint64_t seed = 100) {
    TrainingData d;
    d.trigger = style_samples(1, seed, 4);
    d.replay = style_samples(0, seed + 50, 4);
    d.heldout = style_samples(0, seed + 80, 3);
    return d;
  }

  TempDir dir_;
  std::shared_ptr<const CausalLM> model_ = testing::load_micro_model(dir_.path() / "model");
  AdapterManagerOptions options_;
  std::shared_ptr<AdapterStore> store_;
  const Seqs probe_ = {style_text(1, 900), style_text(0, 901), style_text(1, 902, 9)};
};

TEST_F(AdapterManagerTest, AnUpdateLowersTheUsersLossAndLeavesOtherUsersBitIdentical) {
  auto m = open();
  EXPECT_EQ(m->get("alice"), nullptr);
  // Bob gets an adapter first; his outputs must not move when Alice updates.
  ASSERT_TRUE(m->update("bob", shift_data(10)).accepted);
  const std::vector<UserId> bobs(probe_.size(), "bob");
  const std::vector<UserId> alices(probe_.size(), "alice");
  const auto bob_before = m->score(bobs, probe_);
  const auto alice_before = m->score(alices, probe_);  // no adapter: the base model

  const auto report = m->update("alice", shift_data());
  ASSERT_TRUE(report.accepted) << report.reason;
  EXPECT_EQ(report.base_version, "");
  ASSERT_FALSE(report.version.empty());
  EXPECT_LT(report.trigger_loss_after, report.trigger_loss_before);
  const auto alice = m->get("alice");
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->version, report.version);
  EXPECT_EQ(alice->config.rank, 4);
  // Alice's unseen text of her new style got more likely.
  const auto alice_after = m->score(alices, probe_);
  EXPECT_LT(alice_after[0].mean_nll, alice_before[0].mean_nll);
  // Bob: bit-identical.
  EXPECT_TRUE(same_scores(m->score(bobs, probe_), bob_before));
  // The store has the version with the report as its info.
  const auto versions = m->versions("alice");
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(versions[0].id, report.version);
  EXPECT_EQ(versions[0].info.at("accepted"), true);
  const auto s = m->stats();
  EXPECT_EQ(s.updates_accepted, 2u);
  EXPECT_EQ(s.resident_adapters, 2u);
}

TEST_F(AdapterManagerTest, ARejectedUpdateChangesNothing) {
  auto m = open();
  ASSERT_TRUE(m->update("alice", shift_data()).accepted);
  const auto before = m->get("alice");
  RapidTrainerOptions harmful = options_.trainer;
  harmful.learning_rate = 50;
  harmful.max_grad_norm = 0;
  harmful.patience = 0;
  const auto r = m->update("alice", shift_data(300), harmful);
  EXPECT_FALSE(r.accepted);
  EXPECT_TRUE(r.version.empty());
  EXPECT_EQ(r.base_version, before->version);
  EXPECT_EQ(m->get("alice"), before);
  EXPECT_EQ(m->versions("alice").size(), 1u);
  EXPECT_EQ(m->stats().updates_rejected, 1u);
}

TEST_F(AdapterManagerTest, EvictionAndReloadAndReopenAreBitExact) {
  auto o = options_;
  o.memory_budget_bytes = 1;  // only the adapter in use stays resident
  auto m = open(o);
  ASSERT_TRUE(m->update("alice", shift_data(1)).accepted);
  ASSERT_TRUE(m->update("bob", shift_data(2)).accepted);  // evicts alice
  EXPECT_EQ(m->stats().resident_adapters, 1u);
  EXPECT_GE(m->stats().evictions, 1u);
  const std::vector<UserId> alices(probe_.size(), "alice");
  // Alice's adapter as trained (kept alive by this pointer) vs reloaded after eviction.
  const auto loads = m->stats().loads;
  const auto reloaded = m->get("alice");
  EXPECT_EQ(m->stats().loads, loads + 1);
  const auto after_reload = m->score(alices, probe_);
  {
    auto fresh = open();
    // A new manager over the same store: the same version, the same bits.
    const auto reopened = fresh->get("alice");
    ASSERT_NE(reopened, nullptr);
    EXPECT_EQ(reopened->version, reloaded->version);
    EXPECT_TRUE(same_weights(reopened->weights, reloaded->weights));
    EXPECT_TRUE(same_scores(fresh->score(alices, probe_), after_reload));
  }
  // The published copy (before any eviction) equals the reloaded one.
  auto keep = open();
  ASSERT_TRUE(keep->update("carol", shift_data(3)).accepted);
  const auto published = keep->get("carol");
  auto other = open();
  EXPECT_TRUE(same_weights(other->get("carol")->weights, published->weights));
}

TEST_F(AdapterManagerTest, RollbackRestoresTheExactPreviousOutputs) {
  auto m = open();
  EXPECT_EQ(m->rollback("alice"), std::nullopt);  // nothing to roll back
  const auto first = m->update("alice", shift_data(1));
  ASSERT_TRUE(first.accepted);
  EXPECT_EQ(m->rollback("alice"), std::nullopt);  // a first version has no parent
  const std::vector<UserId> alices(probe_.size(), "alice");
  const auto after_first = m->score(alices, probe_);
  const auto second = m->update("alice", shift_data(2));
  ASSERT_TRUE(second.accepted);
  EXPECT_EQ(second.base_version, first.version);
  EXPECT_FALSE(same_scores(m->score(alices, probe_), after_first));
  EXPECT_EQ(m->rollback("alice"), first.version);
  EXPECT_EQ(m->get("alice")->version, first.version);
  EXPECT_TRUE(same_scores(m->score(alices, probe_), after_first));
}

TEST_F(AdapterManagerTest, ForgetRemovesEveryVersionAndByte) {
  auto m = open();
  ASSERT_TRUE(m->update("alice", shift_data(1)).accepted);
  ASSERT_TRUE(m->update("alice", shift_data(2)).accepted);
  ASSERT_TRUE(m->update("bob", shift_data(3)).accepted);
  EXPECT_EQ(m->forget("alice"), 2u);
  EXPECT_EQ(m->get("alice"), nullptr);
  EXPECT_TRUE(m->versions("alice").empty());
  EXPECT_NE(m->get("bob"), nullptr);
  // Nothing of alice under the store's folder: only bob's files (and the store's own) remain.
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path() / "adapters")) {
    EXPECT_EQ(e.path().string().find("alice"), std::string::npos) << e.path();
  }
}

TEST_F(AdapterManagerTest, QueuedUpdatesOfAForgottenUserAreDropped) {
  auto o = options_;
  o.worker.concurrency = 1;
  auto m = open(o);
  // Occupy the single worker with bob, queue alice, forget alice before her turn.
  auto bob = m->schedule_update("bob", {shift_data(1), std::nullopt});
  auto alice = m->schedule_update("alice", {shift_data(2), std::nullopt});
  m->forget("alice");
  m->wait_idle();
  EXPECT_TRUE(bob.result.get().accepted);
  const auto r = alice.result.get();
  // Either it ran before forget (then forget removed it) or it was dropped: never an adapter.
  EXPECT_EQ(m->get("alice"), nullptr);
  EXPECT_TRUE(m->versions("alice").empty());
  if (!r.accepted) {
    EXPECT_THAT(r.reason, HasSubstr("forgotten"));
  }
}

TEST_F(AdapterManagerTest, ExportAndImportPeftGiveTheSameOutputs) {
  auto m = open();
  EXPECT_THROW(m->export_peft("alice", dir_.path() / "x"), InvalidArgument);
  ASSERT_TRUE(m->update("alice", shift_data()).accepted);
  const auto out = dir_.path() / "exported";
  m->export_peft("alice", out);
  EXPECT_TRUE(std::filesystem::exists(out / "adapter_config.json"));
  EXPECT_TRUE(std::filesystem::exists(out / "adapter_model.safetensors"));
  const auto id = m->import_peft("bob", out);
  EXPECT_EQ(m->get("bob")->version, id);
  const std::vector<UserId> alices(probe_.size(), "alice"), bobs(probe_.size(), "bob");
  EXPECT_TRUE(same_scores(m->score(alices, probe_), m->score(bobs, probe_)));
  // An adapter for another model is refused, naming the file.
  auto c = testing::micro_config();
  c.hidden_size = 64;
  c.head_dim = 8;
  c.num_attention_heads = 8;
  TempDir other;
  const auto w = LoraWeights::create(c, 4, 8, {LoraTarget::kQ}, false, 1);
  PeftAdapterConfig pc;
  pc.rank = 4;
  pc.alpha = 8;
  pc.targets = {LoraTarget::kQ};
  save_peft_adapter(other.path(), w, pc);
  try {
    m->import_peft("carol", other.path());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("adapter_model.safetensors"));
  }
  EXPECT_EQ(m->get("carol"), nullptr);
}

TEST_F(AdapterManagerTest, ACorruptCurrentVersionFallsBackToTheLastGoodOne) {
  std::string first, second;
  {
    auto m = open();
    first = m->update("alice", shift_data(1)).version;
    second = m->update("alice", shift_data(2)).version;
    ASSERT_FALSE(first.empty());
    ASSERT_FALSE(second.empty());
  }
  close_store();
  // Flip one byte of the newest version's tensors.
  bool flipped = false;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path() / "adapters")) {
    if (e.path().filename() == "adapter_model.safetensors" &&
        e.path().parent_path().filename() == second) {
      std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(-3, std::ios::end);
      f.put('\x7f');
      flipped = true;
    }
  }
  ASSERT_TRUE(flipped);
  auto m = open();
  const auto a = m->get("alice");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->version, first);
  const auto versions = m->versions("alice");
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(versions[0].id, first);
}

TEST_F(AdapterManagerTest, UserIdsThatLookLikePathsStayInsideTheStore) {
  auto m = open();
  const auto root = std::filesystem::weakly_canonical(dir_.path() / "adapters");
  for (const UserId user : {"../../escape", "/etc/passwd", "a/../../b", ".."}) {
    ASSERT_TRUE(m->update(user, shift_data(5)).accepted) << user;
    EXPECT_NE(m->get(user), nullptr);
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "escape"));
  EXPECT_FALSE(std::filesystem::exists(dir_.path().parent_path() / "escape"));
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path())) {
    const auto p = std::filesystem::weakly_canonical(e.path());
    if (p.string().rfind((dir_.path() / "model").string(), 0) == 0) continue;
    EXPECT_EQ(p.string().rfind(root.string(), 0), 0u) << p;
  }
  EXPECT_THROW(m->get(""), InvalidArgument);
}

TEST_F(AdapterManagerTest, MixedAdapterBatchesEqualEachUserAlone) {
  auto m = open();
  ASSERT_TRUE(m->update("alice", shift_data(1)).accepted);
  ASSERT_TRUE(m->update("bob", shift_data(2)).accepted);
  const std::vector<UserId> users = {"alice", "bob", "nobody"};
  const auto mixed = m->score(users, probe_);
  for (std::size_t i = 0; i < users.size(); ++i) {
    const std::vector<UserId> one = {users[i]};
    const auto alone = m->score(one, {probe_[i]});
    ASSERT_EQ(alone[0].logprobs.size(), mixed[i].logprobs.size());
    for (std::size_t k = 0; k < alone[0].logprobs.size(); ++k) {
      EXPECT_NEAR(alone[0].logprobs[k], mixed[i].logprobs[k], 1e-4) << users[i] << " " << k;
    }
  }
  // Generation: each row continues as that user alone would (greedy).
  GenerationOptions g;
  g.max_new_tokens = 6;
  g.stop_at_eos = false;
  const Seqs prompts = {style_text(1, 5, 5), style_text(0, 6, 8), style_text(1, 7, 3)};
  const auto batch = m->generate(users, prompts, g);
  ASSERT_EQ(batch.size(), 3u);
  for (std::size_t i = 0; i < users.size(); ++i) {
    const std::vector<UserId> one = {users[i]};
    const auto alone = m->generate(one, {prompts[i]}, g);
    EXPECT_EQ(batch[i].tokens, alone[0].tokens) << users[i];
    EXPECT_EQ(batch[i].tokens.size(), 6u);
  }
  EXPECT_THROW(m->score(users, {probe_[0]}), InvalidArgument);
}

TEST_F(AdapterManagerTest, ReadersKeepTheLastAcceptedVersionWhileAnUpdateRuns) {
  auto m = open();
  const auto first = m->update("alice", shift_data(1));
  ASSERT_TRUE(first.accepted);
  const std::vector<UserId> alices(probe_.size(), "alice");
  const auto first_scores = m->score(alices, probe_);
  std::atomic<bool> done{false};
  std::set<std::string> seen;
  bool stale_or_mixed = false;
  std::thread reader([&] {
    while (!done.load()) {
      const auto a = m->get("alice");
      seen.insert(a->version);
      if (a->version == first.version) {
        const LoraWeights* one[] = {&a->weights};
        stale_or_mixed |= !same_scores(oap::score(*model_, probe_, one), first_scores);
      }
    }
  });
  auto o = options_.trainer;
  o.steps = 30;
  o.patience = 0;
  const auto second = m->update("alice", shift_data(2), o);
  done = true;
  reader.join();
  ASSERT_TRUE(second.accepted);
  EXPECT_FALSE(stale_or_mixed);
  EXPECT_TRUE(seen.contains(first.version));  // served throughout the update
  for (const auto& v : seen) EXPECT_TRUE(v == first.version || v == second.version) << v;
}

TEST_F(AdapterManagerTest, ConcurrentUpdatesAndScoringOverManyUsers) {
  auto o = options_;
  o.worker.concurrency = 2;
  o.trainer.steps = 3;
  // Concurrency, not the gate, is under test: the micro model's held-out loss moves by
  // ~0.02 nats on these updates, beyond the strict default gate.
  o.trainer.heldout_tolerance = 0.02;
  o.memory_budget_bytes = 12000;  // two of these 5 KiB adapters resident: eviction under load
  auto m = open(o);
  constexpr int kUsers = 6;
  std::vector<UpdateTicket<UpdateReport>> tickets;
  std::atomic<bool> stop{false};
  std::atomic<int> scored{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      std::vector<UserId> users;
      for (int u = 0; u < 3; ++u) users.push_back("user" + std::to_string((t + u) % kUsers));
      const Seqs seqs(probe_.begin(), probe_.end());
      while (!stop.load()) {
        EXPECT_EQ(m->score(users, seqs).size(), 3u);
        ++scored;
      }
    });
  }
  for (int round = 0; round < 2; ++round) {
    for (int u = 0; u < kUsers; ++u) {
      tickets.push_back(m->schedule_update("user" + std::to_string(u),
                                           {shift_data(static_cast<std::uint64_t>(u)), {}}));
    }
  }
  m->wait_idle();
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_GT(scored.load(), 0);
  for (auto& t : tickets) {
    if (t.status == SubmitStatus::kRejected) continue;
    EXPECT_NO_THROW(t.result.get());
  }
  // Every user's current version loads from the store and equals what is served.
  auto fresh = open();
  for (int u = 0; u < kUsers; ++u) {
    const UserId user = "user" + std::to_string(u);
    const auto served = m->get(user);
    const auto stored = fresh->get(user);
    ASSERT_NE(served, nullptr) << user;
    ASSERT_NE(stored, nullptr) << user;
    EXPECT_EQ(served->version, stored->version);
    EXPECT_TRUE(same_weights(served->weights, stored->weights));
  }
}

// A PEFT folder written as Python PEFT writes it (tests/reference/make_peft_fixture.py) imports
// and gives the logits of the independent reference (tests/reference/llama_reference.py).
TEST_F(AdapterManagerTest, PeftFixturesFromPythonImportAndMatchTheReference) {
  const std::string py = testing::python_with_torch();
  if (py.empty()) GTEST_SKIP() << "no Python with torch (apt-get install python3-torch)";
  auto m = open();
  const auto model_dir = dir_.path() / "model";
  struct Case {
    std::string targets;
    int rank;
    double alpha;
    bool rslora;
  };
  const Case cases[] = {{"q_proj,v_proj", 8, 16, false},
                        {"q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", 4, 8, true},
                        {"v_proj,down_proj", 2, 32, false}};
  const std::vector<std::int64_t> ids = {5, 17, 42, 3, 88, 61, 9, 30};
  int n = 0;
  for (const auto& c : cases) {
    const auto folder = dir_.path() / ("peft" + std::to_string(n));
    const std::string make = py + " " OAP_SOURCE_DIR "/tests/reference/make_peft_fixture.py " +
                             model_dir.string() + " " + folder.string() + " --targets " +
                             c.targets + " --rank " + std::to_string(c.rank) + " --alpha " +
                             std::to_string(c.alpha) + (c.rslora ? " --rslora" : "") + " --seed " +
                             std::to_string(n);
    ASSERT_EQ(std::system(make.c_str()), 0) << make;
    const UserId user = "peft" + std::to_string(n);
    m->import_peft(user, folder);
    const auto adapter = m->get(user);
    ASSERT_NE(adapter, nullptr);
    EXPECT_EQ(adapter->config.rank, c.rank);
    EXPECT_EQ(adapter->config.rslora, c.rslora);

    const nlohmann::json input = {{"input_ids", {ids}}, {"adapter", folder.string()}};
    const auto in = dir_.path() / "ref_input.json";
    const auto out = dir_.path() / "ref_logits.safetensors";
    std::ofstream(in) << input.dump();
    const std::string ref = py + " " OAP_SOURCE_DIR "/tests/reference/llama_reference.py " +
                            model_dir.string() + " " + in.string() + " " + out.string();
    ASSERT_EQ(std::system(ref.c_str()), 0) << ref;
    const auto expected = SafeTensors::open(out)->tensor("logits").clone();
    torch::NoGradGuard no_grad;
    const LoraWeights* one[] = {&adapter->weights};
    const auto logits = model_->forward(torch::tensor(ids).unsqueeze(0), {}, nullptr, one);
    const auto base = model_->forward(torch::tensor(ids).unsqueeze(0));
    EXPECT_LT((logits - expected).abs().max().item<double>(), 1e-4) << c.targets;
    // The adapter does change the output (the comparison is not base vs base).
    EXPECT_GT((logits - base).abs().max().item<double>(), 1e-2) << c.targets;
    ++n;
  }
}

}  // namespace
}  // namespace oap
