#include "oap/personalizer.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "llm/model_test_util.hpp"
#include "oap/core/config_file.hpp"
#include "oap/core/error.hpp"
#include "oap/llm/causal_lm.hpp"
#include "oap/llm/model_init.hpp"
#include "oap/llm/model_preset.hpp"
#include "oap/llm/tokenizer.hpp"
#include "oap/policy/audit_trail.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// Two ways of writing: a user's "style" is the vocabulary their texts are drawn from.
std::string style_text(int style, std::mt19937_64& rng, int words = 10) {
  static const std::vector<std::string> kWords[] = {
      {"the",  "soup", "is",   "warm",   "and",    "the",    "bread", "is", "fresh", "we",
       "cook", "rice", "with", "onions", "garlic", "butter", "in",    "a",  "pan",   "tonight"},
      {"market",    "shares", "fell",   "as",        "bond",     "yields", "rose",
       "investors", "sold",   "stocks", "quarterly", "earnings", "beat",   "forecasts",
       "the",       "index",  "closed", "lower",     "today",    "banks"}};
  std::string out;
  for (int i = 0; i < words; ++i) {
    out += (i ? " " : "") + kWords[style][rng() % kWords[style].size()];
  }
  return out;
}

// An event of user at minute i: features N(level, 1) and N(0, 1) (noise seeded by user and i,
// so every test sees the same stream whatever ran before), and the text.
Event make(const std::string& user, int i, double level, const std::string& text) {
  std::mt19937_64 noise(std::hash<std::string>{}(user)*1000 + static_cast<std::uint64_t>(i));
  std::normal_distribution<double> g;
  Event e;
  e.user = user;
  e.timestamp =
      timestamp_from_micros(1'700'000'000'000'000 + static_cast<std::int64_t>(i) * 60'000'000);
  e.features = {static_cast<float>(level + g(noise)), static_cast<float>(g(noise))};
  e.text = text;
  return e;
}

// A tokenizer that passes everything to another one, except that, once armed, it holds the first
// encode() called on another thread than the one that armed it (the update worker planning its
// training data) until released, or for at most 2 s.
class PausingTokenizer : public Tokenizer {
 public:
  explicit PausingTokenizer(const Tokenizer& inner) : inner_(inner) {}
  std::vector<std::int32_t> encode(std::string_view text, bool add_special) const override {
    {
      std::unique_lock lock(mu_);
      if (armed_ && std::this_thread::get_id() != owner_) {
        armed_ = false;
        entered_ = true;
        cv_.notify_all();
        cv_.wait_for(lock, std::chrono::seconds(2), [&] { return released_; });
      }
    }
    return inner_.encode(text, add_special);
  }
  std::string decode(std::span<const std::int32_t> ids, bool skip_special) const override {
    return inner_.decode(ids, skip_special);
  }
  std::size_t vocab_size() const override { return inner_.vocab_size(); }
  std::optional<std::int32_t> token_to_id(std::string_view token) const override {
    return inner_.token_to_id(token);
  }
  std::optional<std::int32_t> bos_id() const override { return inner_.bos_id(); }
  std::optional<std::int32_t> eos_id() const override { return inner_.eos_id(); }

  void arm() {
    std::lock_guard lock(mu_);
    owner_ = std::this_thread::get_id();
    armed_ = true;
  }
  // Whether another thread reached encode() since arm() (waits up to 60 s for it).
  bool wait_entered() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return entered_; });
  }
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  const Tokenizer& inner_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable bool armed_ = false, entered_ = false, released_ = false;
  std::thread::id owner_;
};

class PersonalizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_dir_ = new TempDir();
    init_random_model(model_preset("tiny"), model_dir_->path(), {.seed = 5, .init_std = 0.1});
    model_ = CausalLM::load(model_dir_->path(), {.num_threads = 1}).release();
    tokenizer_ = Tokenizer::load(model_dir_->path()).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tokenizer_;
    delete model_dir_;
  }
  PersonalizerOptions options(bool wait = true) {
    PersonalizerOptions o;
    o.data_dir = dir_.path() / "data";
    o.personalizer.wait_for_updates = wait;
    o.detect.detectors = {{"z", {{"type", "zscore"}}}};
    o.detect.min_history = 5;
    o.policy.initial_adapt_after = 15;
    o.adapters.trainer.learning_rate = 5e-3;
    o.adapters.trainer.steps = 6;
    o.adapters.lora.rank = 4;
    return o;
  }
  std::unique_ptr<Personalizer> open(const PersonalizerOptions& o, bool with_model = true) {
    if (!with_model) return std::make_unique<Personalizer>(o);
    return std::make_unique<Personalizer>(
        o, std::shared_ptr<const CausalLM>(std::shared_ptr<void>(), model_),
        std::shared_ptr<const Tokenizer>(std::shared_ptr<void>(), tokenizer_));
  }

  static TempDir* model_dir_;
  static const CausalLM* model_;
  static const Tokenizer* tokenizer_;
  TempDir dir_;
  std::mt19937_64 rng_{11};
};

TempDir* PersonalizerTest::model_dir_ = nullptr;
const CausalLM* PersonalizerTest::model_ = nullptr;
const Tokenizer* PersonalizerTest::tokenizer_ = nullptr;

TEST_F(PersonalizerTest, ASustainedShiftAdaptsTheUserAndLowersTheirNllOnTheNewText) {
  auto p = open(options());
  std::vector<Personalizer::Observation> seen;
  for (int i = 0; i < 30; ++i) seen.push_back(p->observe(make("ann", i, 0.0, style_text(0, rng_))));
  // The profile: an accepted update after initial_adapt_after events.
  ASSERT_EQ(seen[14].decision.action, Action::kAdapt) << seen[14].decision.reason;
  ASSERT_TRUE(seen[14].update.has_value());
  EXPECT_TRUE(seen[14].update->result.get().accepted) << seen[14].update->result.get().reason;
  ASSERT_TRUE(seen[20].nll.has_value());
  EXPECT_EQ(seen[20].features.size(), 2u + 5u);  // 2 features + surprise + 4-d embedding
  // The shift: features and text change for good.
  const std::string probe = style_text(1, rng_, 12);
  const double nll_before = p->score("ann", probe).mean_nll;
  bool new_context = false;
  int follow_ups = 0;
  for (int i = 30; i < 60; ++i) {
    const auto o = p->observe(make("ann", i, 8.0, style_text(1, rng_)));
    if (o.decision.action == Action::kNewContext) {
      new_context = true;
      ASSERT_TRUE(o.update.has_value());
      const auto r = o.update->result.get();
      EXPECT_TRUE(r.accepted) << r.reason;
      EXPECT_LT(r.trigger_loss_after, r.trigger_loss_before);
      EXPECT_GE(o.decision.trigger_start, 30);
    }
    // Follow-ups learn the events since the shift and are judged on held-out ones of them
    // (every fourth), not on the history before it: trigger + held-out = the events.
    if (o.decision.follow_up) {
      ++follow_ups;
      ASSERT_TRUE(new_context);
      ASSERT_TRUE(o.update.has_value());
      const auto r = o.update->result.get();
      const auto events = std::min<std::size_t>(
          o.event - static_cast<std::uint64_t>(o.decision.trigger_start) + 1, 16);
      EXPECT_GT(r.heldout_samples, 0u);
      EXPECT_EQ(r.trigger_samples + r.heldout_samples, events) << r.reason;
    }
  }
  EXPECT_TRUE(new_context);
  EXPECT_GE(follow_ups, 1);
  EXPECT_LT(p->score("ann", probe).mean_nll, nll_before);
  const auto report = p->report("ann");
  EXPECT_EQ(report.at("events"), 60);
  EXPECT_EQ(report.at("nll").size(), 60u);
  EXPECT_GE(report.at("updates").size(), 2u);
}

TEST_F(PersonalizerTest, ABlipLeavesTheDetectorsAndTheAdapterAsTheyWere) {
  auto p = open(options());
  for (int i = 0; i < 40; ++i) p->observe(make("bob", i, 0.0, style_text(0, rng_)));
  const auto before = p->inspect("bob");
  const auto blip = p->observe(make("bob", 40, 25.0, style_text(1, rng_)));
  EXPECT_EQ(blip.decision.action, Action::kObserve) << blip.decision.reason;
  EXPECT_FALSE(blip.detection.learned);
  EXPECT_FALSE(blip.update.has_value());
  for (int i = 41; i < 45; ++i) {
    EXPECT_NE(p->observe(make("bob", i, 0.0, style_text(0, rng_))).decision.action, Action::kAdapt);
  }
  const auto after = p->inspect("bob");
  EXPECT_EQ(after.at("adapter"), before.at("adapter"));
  EXPECT_EQ(after.at("versions").size(), before.at("versions").size());
  // The detectors took every event but the blip.
  EXPECT_EQ(after.at("history_events"), 45);
}

// A consolidation learns the user's normal events since the last update, never a blip the
// policy only observed.
TEST_F(PersonalizerTest, AConsolidationLeavesTheBlipOut) {
  auto o = options();
  o.policy.consolidate_every = 10;
  auto p = open(o);
  std::optional<Personalizer::Observation> blip, consolidation;
  for (int i = 0; i < 35; ++i) {
    auto seen = i == 30 ? p->observe(make("dee", i, 25.0, style_text(1, rng_)))
                        : p->observe(make("dee", i, 0.0, style_text(0, rng_)));
    if (i == 30) blip = seen;
    if (i == 34) consolidation = seen;
  }
  ASSERT_EQ(blip->decision.action, Action::kObserve) << blip->decision.reason;
  ASSERT_EQ(consolidation->decision.action, Action::kAdapt) << consolidation->decision.reason;
  EXPECT_TRUE(consolidation->decision.consolidation);
  EXPECT_EQ(consolidation->decision.trigger_start, 25);
  ASSERT_TRUE(consolidation->update.has_value());
  const auto r = consolidation->update->result.get();
  EXPECT_EQ(r.trigger_samples, 9u) << r.reason;  // events 25..34 but the blip
  EXPECT_EQ(r.heldout_samples, o.personalizer.heldout_samples);
}

TEST_F(PersonalizerTest, BadEventsAreRefusedAndChangeNothing) {
  auto p = open(options());
  for (int i = 0; i < 3; ++i) p->observe(make("cy", i, 0.0, style_text(0, rng_)));
  const auto before = p->inspect("cy");
  auto bad = make("cy", 3, 0.0, style_text(0, rng_));
  bad.features = {1.0f, 2.0f, 3.0f};
  EXPECT_THAT([&] { p->observe(bad); }, ::testing::ThrowsMessage<InvalidArgument>(
                                            HasSubstr("\"cy\"'s events have 7 features")));
  bad = make("cy", 3, 0.0, style_text(0, rng_));
  bad.features[0] = std::nanf("");
  EXPECT_THROW(p->observe(bad), InvalidArgument);
  bad = make("cy", 3, 0.0, std::string(70000, 'a'));
  EXPECT_THAT([&] { p->observe(bad); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("max_text_bytes")));
  bad = make("cy", 3, 0.0, "caf\xc3");
  EXPECT_THAT([&] { p->observe(bad); },
              ::testing::ThrowsMessage<InvalidArgument>(HasSubstr("not valid UTF-8 (byte 3)")));
  bad = make("cy", 3, 0.0, "no text signals without text");
  bad.text.clear();
  EXPECT_THROW(p->observe(bad), InvalidArgument);  // 2 features, the user's events have 7
  EXPECT_EQ(p->inspect("cy"), before);
}

TEST_F(PersonalizerTest, ReopeningTheDataDirectoryRestoresEverything) {
  nlohmann::json before;
  {
    auto p = open(options());
    for (int i = 0; i < 25; ++i) p->observe(make("dee", i, 0.0, style_text(0, rng_)));
    before = p->inspect("dee");
    ASSERT_FALSE(before.at("adapter").is_null());
  }
  auto p = open(options());
  EXPECT_EQ(p->inspect("dee"), before);
  const auto next = p->observe(make("dee", 25, 0.0, style_text(0, rng_)));
  EXPECT_EQ(next.event, 25u);
  EXPECT_EQ(next.detection.user_events, 26u);
  EXPECT_EQ(p->inspect("dee").at("decided_events"), 26);
}

TEST(PersonalizerOptions, DetectorsDefaultToNoStreamContextAndHoldBlipsBack) {
  EXPECT_EQ(PersonalizerOptions{}.detect.context.season, StreamContextOptions::Season::kNone);
  EXPECT_FALSE(PersonalizerOptions{}.detect.context.enabled());
  EXPECT_TRUE(PersonalizerOptions{}.detect.hold_back_flagged);
  // DetectorBank's own defaults are the daily season, every point learned (docs/detectors.md).
  EXPECT_EQ(DetectorBankOptions{}.context.season, StreamContextOptions::Season::kDay);
  EXPECT_FALSE(DetectorBankOptions{}.hold_back_flagged);
  // A detect section is read over the Personalizer's defaults.
  const ConfigFile config(nlohmann::json::parse(R"({"detect": {"min_history": 7}})"), "c.json");
  const auto d = config.get<DetectorBankOptions>("detect", personalizer_detect_defaults());
  EXPECT_EQ(d.min_history, 7u);
  EXPECT_FALSE(d.context.enabled());
  EXPECT_TRUE(d.hold_back_flagged);
}

// A crash after the history and the audit trail committed events but before the detectors'
// state was written: inspect reports the detectors as the next event will find them, replayed.
TEST_F(PersonalizerTest, InspectReplaysWhatACrashKeptOutOfTheDetectors) {
  {
    auto p = open(options(), /*with_model=*/false);
    for (int i = 0; i < 25; ++i) p->observe(make("dot", i, 0.0, ""));
  }
  const auto detectors = dir_.path() / "data" / "detectors";
  ASSERT_TRUE(std::filesystem::exists(detectors));
  std::filesystem::remove_all(detectors);  // as if the process died before saving them
  auto p = open(options(), /*with_model=*/false);
  const auto j = p->inspect("dot");
  EXPECT_EQ(j.at("history_events"), 25);
  EXPECT_EQ(j.at("decided_events"), 25);
  EXPECT_EQ(j.at("detector_events"), 25);
  EXPECT_EQ(p->observe(make("dot", 25, 0.0, "")).detection.user_events, 26u);
}

TEST_F(PersonalizerTest, ForgetLeavesNoByteOfTheUserInTheDataDirectory) {
  const std::string marker = "zebracornmarker";
  constexpr float kMarkerFeature = 4242.4242f;
  std::string feature_bytes(sizeof(float), '\0');
  std::memcpy(feature_bytes.data(), &kMarkerFeature, sizeof(float));
  {
    auto p = open(options());
    for (int i = 0; i < 20; ++i) {
      auto e = make("eve", i, 0.0, style_text(0, rng_) + " " + marker);
      e.meta = {{"note", marker}};
      e.features[1] = kMarkerFeature;
      p->observe(e);
      p->observe(make("fay", i, 0.0, style_text(0, rng_)));
    }
    p->wait_idle();
    EXPECT_EQ(p->forget("eve"), 20u);
    EXPECT_EQ(p->inspect("eve").at("history_events"), 0);
    EXPECT_EQ(p->inspect("fay").at("history_events"), 20);
  }
  // Every file of the data directory, byte by byte.
  std::size_t files = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir_.path() / "data")) {
    if (!f.is_regular_file()) continue;
    ++files;
    std::ifstream in(f.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(bytes.find(marker), std::string::npos) << f.path();
    EXPECT_EQ(bytes.find(feature_bytes), std::string::npos) << f.path();  // float32 (history)
    EXPECT_EQ(bytes.find("4242.42"), std::string::npos) << f.path();      // as text (JSON state)
  }
  EXPECT_GT(files, 3u);
}

TEST_F(PersonalizerTest, WorksWithoutAModelOnFeaturesOnly) {
  auto p = open(options(), /*with_model=*/false);
  for (int i = 0; i < 30; ++i) {
    const auto o = p->observe(make("gus", i, i < 20 ? 0.0 : 8.0, ""));
    EXPECT_FALSE(o.nll.has_value());
    EXPECT_FALSE(o.update.has_value());  // decided and audited only
    EXPECT_EQ(o.features.size(), 2u);
  }
  EXPECT_THROW(p->generate("gus", "hello"), InvalidArgument);
  const auto r = p->report("gus");
  EXPECT_GE(r.at("flagged").get<int>(), 5);
  p.reset();
  // The audit trail keeps every decision's scores; the per-feature contributions only where the
  // decision acts (an ignored event's are left out).
  const auto audit = open_audit_trail(options().data_dir / "audit.db");
  std::size_t ignored = 0, acted = 0;
  for (const auto& d : audit->decisions("gus")) {
    const auto& z = d.scores.at("z");
    EXPECT_TRUE(z.contains("p_value") && z.contains("score") && z.contains("flagged"));
    const bool ignore = d.decision.action == Action::kIgnore;
    EXPECT_EQ(z.contains("contributions"), !ignore) << "event " << d.event;
    if (!ignore) {
      EXPECT_EQ(z.at("contributions").size(), 2u);
    }
    ++(ignore ? ignored : acted);
  }
  EXPECT_EQ(ignored + acted, 30u);
  EXPECT_GE(ignored, 1u);
  EXPECT_GE(acted, 1u);
}

// Most events leave the user's policy state as it was (but for its count of events), and it is
// then not written again; reopening the data directory mid-stream still decides every later
// event as one Personalizer that ran throughout does.
TEST_F(PersonalizerTest, AStateLeftAsItWasIsNotRewrittenAndARestartDecidesTheSame) {
  auto o = options();
  o.policy.initial_adapt_after = 0;
  const auto stream = [](int i) { return make("hal", i, i >= 30 && i < 36 ? 9.0 : 0.0, ""); };
  auto decisions = [](const std::filesystem::path& data) {
    std::vector<std::string> out;
    for (const auto& d : open_audit_trail(data / "audit.db")->decisions("hal")) {
      out.push_back(std::string(action_name(d.decision.action)) + " " + d.decision.reason + " " +
                    std::to_string(d.p_value));
    }
    return out;
  };
  nlohmann::json throughout;
  {
    auto p = open(o, /*with_model=*/false);
    for (int i = 0; i < 78; ++i) p->observe(stream(i));
    throughout = p->inspect("hal", 100);
    EXPECT_EQ(throughout.at("state").at("policy").at("events"), 78);
  }
  const auto once = decisions(o.data_dir);
  {
    // The trail's copy was written when the state last changed, not at every event.
    const auto saved = open_audit_trail(o.data_dir / "audit.db")->user_state("hal");
    ASSERT_TRUE(saved.has_value());
    EXPECT_LT(saved->at("policy").at("events").get<int>(), 70);
  }
  std::set<std::string> actions;
  for (const auto& d : once) actions.insert(d.substr(0, d.find(' ')));
  EXPECT_GE(actions.size(), 2u) << "the stream should lead to more than one kind of decision";

  o.data_dir = dir_.path() / "restarted";
  for (const auto& [from, to] : {std::pair{0, 20}, {20, 33}, {33, 72}, {72, 78}}) {
    auto p = open(o, /*with_model=*/false);
    for (int i = from; i < to; ++i) p->observe(stream(i));
  }
  EXPECT_EQ(decisions(o.data_dir), once);
  auto restarted = open(o, /*with_model=*/false)->inspect("hal", 100);
  EXPECT_EQ(restarted.at("state"), throughout.at("state"));
  EXPECT_EQ(restarted.at("decisions"), throughout.at("decisions"));
}

TEST_F(PersonalizerTest, CallbacksSeeEveryDeviationAndEscalations) {
  auto o = options();
  o.policy.escalate_p = 1e-12;
  auto p = open(o);
  std::vector<Action> seen;
  p->on_deviation([&](const Event& e, const Personalizer::Observation& obs) {
    EXPECT_EQ(e.user, obs.user);
    seen.push_back(obs.decision.action);
  });
  for (int i = 0; i < 30; ++i) p->observe(make("hal", i, 0.0, style_text(0, rng_)));
  p->observe(make("hal", 30, 500.0, style_text(0, rng_)));
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), Action::kEscalate);
  for (auto a : seen) EXPECT_NE(a, Action::kIgnore);
}

TEST_F(PersonalizerTest, ConcurrentUsersObserveGenerateAndUpdate) {
  auto o = options(/*wait=*/false);
  o.adapters.worker.concurrency = 2;
  auto p = open(o);
  std::vector<std::thread> threads;
  std::atomic<int> generated{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      for (int i = 0; i < 25; ++i) {
        const std::string user = "u" + std::to_string(t);
        p->observe(make(user, i, i < 18 ? 0.0 : 8.0, style_text(i < 18 ? 0 : 1, rng)));
        if (i % 8 == 7) {
          GenerationOptions g;
          g.max_new_tokens = 3;
          p->generate(user, "the", g);
          ++generated;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  p->wait_idle();
  EXPECT_EQ(generated.load(), 4 * 3);
  for (int t = 0; t < 4; ++t) {
    const auto j = p->inspect("u" + std::to_string(t));
    EXPECT_EQ(j.at("decided_events"), 25);
    EXPECT_EQ(j.at("history_events"), 25);
    EXPECT_EQ(j.at("detector_events"), 25);
  }
  EXPECT_EQ(p->stats().events, 100u);
  EXPECT_EQ(p->stats().updates_pending, 0u);
}

// forget() while the user's update is running (past its check that the user was not forgotten,
// planning its training data): the update must not store an adapter for the forgotten user.
TEST_F(PersonalizerTest, ForgetDuringARunningUpdateLeavesNoAdapterBehind) {
  auto tokenizer = std::make_shared<PausingTokenizer>(*tokenizer_);
  auto p = std::make_unique<Personalizer>(
      options(/*wait=*/false), std::shared_ptr<const CausalLM>(std::shared_ptr<void>(), model_),
      tokenizer);
  for (int i = 0; i < 14; ++i) p->observe(make("ivy", i, 0.0, style_text(0, rng_)));
  tokenizer->arm();
  const auto o = p->observe(make("ivy", 14, 0.0, style_text(0, rng_)));
  ASSERT_EQ(o.decision.action, Action::kAdapt) << o.decision.reason;
  ASSERT_TRUE(o.update.has_value());
  ASSERT_TRUE(tokenizer->wait_entered()) << "the update never encoded its training texts";
  EXPECT_EQ(p->forget("ivy"), 15u);
  tokenizer->release();
  p->wait_idle();
  const auto j = p->inspect("ivy");
  EXPECT_EQ(j.at("history_events"), 0);
  EXPECT_TRUE(j.at("adapter").is_null()) << j.at("adapter");
  EXPECT_TRUE(j.at("versions").empty()) << j.at("versions");
  EXPECT_TRUE(j.at("updates").empty()) << j.at("updates");
}

// Many users at once: six threads observe two users each (half of them shift midway, so updates
// run on the worker meanwhile) while two threads generate, score, inspect and report on all of
// them, and one user is forgotten mid-stream. Also run under ThreadSanitizer
// (scripts/tsan_llm.sh).
TEST_F(PersonalizerTest, ConcurrentObserveGenerateScoreInspectAndForgetOverManyUsers) {
  auto o = options(/*wait=*/false);
  o.adapters.worker.concurrency = 2;
  o.adapters.trainer.steps = 3;
  // Concurrency, not the gate, is under test: the micro model's held-out loss moves by
  // ~0.02 nats on these updates, beyond the strict default gate.
  o.adapters.trainer.heldout_tolerance = 0.02;
  auto p = open(o);
  constexpr int kObservers = 6, kEvents = 20;
  auto name = [](int u) { return "m" + std::to_string(u); };
  std::atomic<int> observers_left{kObservers};
  std::vector<std::thread> threads;
  for (int t = 0; t < kObservers; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(200 + t);
      for (int i = 0; i < kEvents; ++i) {
        for (int u : {2 * t, 2 * t + 1}) {
          const bool shifted = u % 2 == 1 && i >= 16;
          p->observe(make(name(u), i, shifted ? 8.0 : 0.0, style_text(shifted ? 1 : 0, rng)));
        }
      }
      --observers_left;
    });
  }
  threads.emplace_back([&] {  // a user observed, then forgotten while its update may run
    std::mt19937_64 rng(300);
    for (int i = 0; i < 16; ++i) p->observe(make("gone", i, 0.0, style_text(0, rng)));
    EXPECT_EQ(p->forget("gone"), 16u);
  });
  std::atomic<int> reads{0};
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      GenerationOptions g;
      g.max_new_tokens = 3;
      for (int k = r; k < 6 || observers_left.load() > 0; k += 2) {
        const auto user = name(k % (2 * kObservers));
        EXPECT_EQ(p->generate(user, "the", g).tokens.size(), 3u);
        EXPECT_GT(p->score(user, "the soup is warm").token_ids.size(), 1u);
        EXPECT_EQ(p->inspect(user).at("user"), user);
        EXPECT_TRUE(p->report(user).at("nll").is_array());
        p->stats();
        p->users();
        ++reads;
      }
    });
  }
  for (auto& th : threads) th.join();
  p->wait_idle();
  EXPECT_GE(reads.load(), 6);
  for (int u = 0; u < 2 * kObservers; ++u) {
    const auto j = p->inspect(name(u));
    EXPECT_EQ(j.at("decided_events"), kEvents) << name(u);
    EXPECT_EQ(j.at("history_events"), kEvents) << name(u);
    EXPECT_EQ(j.at("detector_events"), kEvents) << name(u);
    // Every user was updated, and the adapter served is one of the user's stored versions.
    ASSERT_FALSE(j.at("updates").empty()) << name(u);
    ASSERT_FALSE(j.at("adapter").is_null()) << name(u);
    bool current_listed = false;
    for (const auto& v : j.at("versions")) current_listed |= v.at("id") == j.at("adapter");
    EXPECT_TRUE(current_listed) << name(u);
  }
  const auto gone = p->inspect("gone");
  EXPECT_EQ(gone.at("history_events"), 0);
  EXPECT_TRUE(gone.at("adapter").is_null());
  EXPECT_TRUE(gone.at("versions").empty());
  const auto s = p->stats();
  EXPECT_EQ(s.events, 2u * kObservers * kEvents + 16u);
  EXPECT_EQ(s.updates_pending, 0u);
  EXPECT_EQ(s.updates_failed, 0u);
}

}  // namespace
}  // namespace oap
