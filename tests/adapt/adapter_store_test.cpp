// AdapterStore: versions, ids, pruning, user ids, forget, arguments, concurrency.

#include "oap/adapt/adapter_store.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "adapt/adapter_store_test_util.hpp"
#include "oap/core/error.hpp"

namespace oap {
namespace {

namespace fs = std::filesystem;
using testing::bytes;
using ::testing::ElementsAre;
using testing::entries;
using testing::expect_error;
using ::testing::HasSubstr;
using testing::ids_of;
using testing::only_user_dir;
using testing::peft;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

TEST(AdapterStore, AddVersionsCurrentOpenRoundTrip) {
  TempDir tmp;
  auto store = open_adapter_store(tmp / "adapters");
  EXPECT_TRUE(store->versions("alice").empty());
  EXPECT_FALSE(store->current("alice").has_value());
  EXPECT_TRUE(store->users().empty());

  auto before = std::chrono::system_clock::now();
  nlohmann::json info1 = {{"loss_before", 2.5}, {"loss_after", 1.25}, {"steps", {1, 2, 3}}};
  AdapterVersion v1 = store->add("alice", peft("{\"r\": 8}", "weights one"), "", info1);
  AdapterVersion v2 = store->add("alice", peft("{\"r\": 8}", "weights two"), v1.id, {{"n", 2}});
  EXPECT_THAT(v1.id, ::testing::MatchesRegex("[0-9a-f]{32}"));
  EXPECT_NE(v1.id, v2.id);
  EXPECT_EQ(v1.parent, "");
  EXPECT_EQ(v2.parent, v1.id);
  EXPECT_EQ(v1.info, info1);
  EXPECT_GE(v1.created, std::chrono::time_point_cast<std::chrono::microseconds>(before) -
                            std::chrono::seconds(1));
  EXPECT_LE(v1.created, v2.created);

  EXPECT_THAT(store->versions("alice"), ElementsAre(v1, v2));
  EXPECT_EQ(store->current("alice"), v2);
  EXPECT_THAT(store->users(), ElementsAre("alice"));

  fs::path dir1 = store->open("alice", v1.id);
  EXPECT_EQ(entries(dir1),
            (std::set<std::string>{"adapter_config.json", "adapter_model.safetensors"}));
  EXPECT_EQ(read_file(dir1 / "adapter_config.json"), "{\"r\": 8}");
  EXPECT_EQ(read_file(dir1 / "adapter_model.safetensors"), "weights one");
  EXPECT_EQ(read_file(store->open("alice", v2.id) / "adapter_model.safetensors"), "weights two");

  store->set_current("alice", v1.id);
  EXPECT_EQ(store->current("alice"), v1);
  EXPECT_THAT(store->versions("alice"), ElementsAre(v1, v2));  // order is by addition

  // make_current = false adds without moving current.
  AdapterVersion v3 = store->add("alice", peft(3), v1.id, nullptr, /*make_current=*/false);
  EXPECT_EQ(store->current("alice"), v1);
  EXPECT_THAT(store->versions("alice"), ElementsAre(v1, v2, v3));
  EXPECT_TRUE(v3.info.is_null());
}

TEST(AdapterStore, IdsAreContentDerived) {
  TempDir tmp;
  auto store = open_adapter_store(tmp / "a");
  std::string weights = bytes(10000, 1);
  AdapterVersion v = store->add("alice", peft("{}", weights), "", {{"first", true}});

  // The same files again: the same version, no duplicate; it stays as first stored.
  AdapterVersion again = store->add("alice", peft("{}", weights), "", {{"first", false}});
  EXPECT_EQ(again, v);
  EXPECT_EQ(store->versions("alice").size(), 1u);

  // One byte different, a renamed file, a missing file: each a different id.
  std::string changed = weights;
  changed[5000] = static_cast<char>(changed[5000] ^ 1);
  std::set<std::string> ids{v.id};
  ids.insert(store->add("alice", peft("{}", changed), "", nullptr).id);
  ids.insert(store
                 ->add(
                     "alice",
                     [&](const fs::path& dir) {
                       write_file(dir / "adapter_config.json", "{}");
                       write_file(dir / "adapter_model2.safetensors", weights);
                     },
                     "", nullptr)
                 .id);
  ids.insert(
      store
          ->add(
              "alice",
              [&](const fs::path& dir) { write_file(dir / "adapter_model.safetensors", weights); },
              "", nullptr)
          .id);
  // Moving bytes from one file to the other keeps the concatenation but changes the id.
  ids.insert(store->add("alice", peft("{}x", weights.substr(1)), "", nullptr).id);
  EXPECT_EQ(ids.size(), 5u);

  // The id depends on the files only: another user, another store, the same id.
  EXPECT_EQ(store->add("bob", peft("{}", weights), "", nullptr).id, v.id);
  TempDir tmp2;
  EXPECT_EQ(open_adapter_store(tmp2 / "b")->add("carol", peft("{}", weights), "", nullptr).id,
            v.id);
}

TEST(AdapterStore, AddingAnExistingVersionMakesItCurrent) {
  TempDir tmp;
  auto store = open_adapter_store(tmp / "a");
  AdapterVersion v1 = store->add("alice", peft(1), "", nullptr);
  AdapterVersion v2 = store->add("alice", peft(2), v1.id, nullptr);
  EXPECT_EQ(store->add("alice", peft(1), "", nullptr), v1);
  EXPECT_EQ(store->current("alice"), v1);
  EXPECT_EQ(store->add("alice", peft(2), "", nullptr, /*make_current=*/false), v2);
  EXPECT_EQ(store->current("alice"), v1);
}

TEST(AdapterStore, ReopenRestoresEverything) {
  TempDir tmp;
  std::map<std::string, std::vector<AdapterVersion>> versions;
  std::map<std::string, std::optional<AdapterVersion>> current;
  {
    auto store = open_adapter_store(tmp / "a");
    for (unsigned i = 0; i < 12; ++i) {
      std::string user = "user" + std::to_string(i % 3);
      auto cur = store->current(user);
      store->add(user, peft(i), cur ? cur->id : "", {{"i", i}, {"text", "Zoë 東京"}}, i % 4 != 3);
    }
    store->set_current("user1", store->versions("user1").front().id);
    for (const auto& u : store->users()) {
      versions[u] = store->versions(u);
      current[u] = store->current(u);
    }
  }
  auto store = open_adapter_store(tmp / "a");
  EXPECT_THAT(store->users(), ElementsAre("user0", "user1", "user2"));
  for (const auto& [user, vs] : versions) {
    EXPECT_EQ(store->versions(user), vs) << user;
    EXPECT_EQ(store->current(user), current[user]) << user;
    for (const auto& v : vs) EXPECT_NO_THROW(store->open(user, v.id)) << user << " " << v.id;
  }
}

TEST(AdapterStore, KeepsTheNewestVersionsPlusCurrentAndItsParent) {
  TempDir tmp;
  AdapterStoreOptions options;
  options.keep_versions = 2;
  auto store = open_adapter_store(tmp / "a", options);
  auto a = store->add("u", peft(1), "", nullptr);
  auto b = store->add("u", peft(2), a.id, nullptr);
  auto c = store->add("u", peft(3), b.id, nullptr);
  EXPECT_THAT(ids_of(store->versions("u")), ElementsAre(b.id, c.id));
  fs::path dir = only_user_dir(tmp / "a");
  EXPECT_FALSE(fs::exists(dir / a.id));
  EXPECT_TRUE(fs::exists(dir / b.id));

  // Current b (whose parent a is already gone); d and e are added without becoming current:
  // the newest two (d, e) and the current one (b) stay, c goes.
  store->set_current("u", b.id);
  auto d = store->add("u", peft(4), c.id, nullptr, false);
  auto e = store->add("u", peft(5), d.id, nullptr, false);
  EXPECT_THAT(ids_of(store->versions("u")), ElementsAre(b.id, d.id, e.id));
  EXPECT_EQ(entries(dir), (std::set<std::string>{"manifest.json", b.id, d.id, e.id}));

  // keep_versions 1: the current version's parent survives beside it.
  options.keep_versions = 1;
  TempDir tmp2;
  auto one = open_adapter_store(tmp2 / "a", options);
  auto x = one->add("u", peft(1), "", nullptr);
  auto y = one->add("u", peft(2), x.id, nullptr);
  EXPECT_THAT(ids_of(one->versions("u")), ElementsAre(x.id, y.id));
  auto z = one->add("u", peft(3), y.id, nullptr);
  EXPECT_THAT(ids_of(one->versions("u")), ElementsAre(y.id, z.id));
  EXPECT_EQ(entries(only_user_dir(tmp2 / "a")),
            (std::set<std::string>{"manifest.json", y.id, z.id}));
}

TEST(AdapterStore, UserIdsNeverLeaveTheRoot) {
  TempDir tmp;
  fs::path root = tmp / "store";
  auto store = open_adapter_store(root);
  const std::vector<std::string> ids = {"../../x",
                                        "/etc/passwd",
                                        "a/b",
                                        "..",
                                        ".",
                                        "../",
                                        "C:\\x",
                                        "x/../../y",
                                        "ユーザー/../../東京",
                                        std::string(256, '.'),
                                        "~root"};
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto v = store->add(ids[i], peft(static_cast<unsigned>(i)), "", {{"user", ids[i]}});
    EXPECT_EQ(store->current(ids[i]), v);
    EXPECT_EQ(read_file(store->open(ids[i], v.id) / "adapter_model.safetensors"),
              bytes(4096, static_cast<unsigned>(i)));
  }
  std::vector<std::string> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(store->users(), sorted);
  // Nothing was created beside the root, and everything inside it is really inside it.
  EXPECT_EQ(entries(tmp.path()), std::set<std::string>{"store"});
  fs::path canonical_root = fs::canonical(root);
  std::size_t dirs = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    EXPECT_FALSE(e.is_symlink()) << e.path();
    auto rel = fs::relative(fs::canonical(e.path()), canonical_root);
    EXPECT_FALSE(rel.empty()) << e.path();
    EXPECT_NE(rel.begin()->string(), "..") << e.path();
    dirs += e.is_directory();
  }
  EXPECT_EQ(dirs, ids.size() * 2);  // a user folder and a version folder each
  for (const auto& id : ids) EXPECT_EQ(store->forget(id), 1u) << id;
  EXPECT_EQ(entries(root), std::set<std::string>{"adapter_store.lock"});
}

TEST(AdapterStore, InvalidUserIdsAreRefused) {
  TempDir tmp;
  auto store = open_adapter_store(tmp / "a");
  for (const std::string& id : {std::string(""), std::string("a\nb"), std::string("ab\xff"),
                                std::string("a\0b", 3), std::string(257, 'x')}) {
    EXPECT_THROW(store->add(id, peft(1), "", nullptr), InvalidArgument);
    EXPECT_THROW(store->versions(id), InvalidArgument);
    EXPECT_THROW(store->forget(id), InvalidArgument);
  }
  EXPECT_EQ(entries(tmp / "a"), std::set<std::string>{"adapter_store.lock"});
}

// Every file under dir whose bytes contain marker.
std::vector<fs::path> files_containing(const fs::path& dir, const std::string& marker) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().string().find(marker) != std::string::npos) out.push_back(e.path());
    if (e.is_regular_file() && read_file(e.path()).find(marker) != std::string::npos) {
      out.push_back(e.path());
    }
  }
  return out;
}

TEST(AdapterStore, ForgetRemovesEveryByteOfTheUser) {
  TempDir tmp;
  const std::string marker = "oap-forget-marker-5b1e0c";
  auto store = open_adapter_store(tmp / "a");
  store->add("bystander", peft(1), "", {{"note", "unrelated"}});
  std::string parent;
  for (unsigned i = 0; i < 4; ++i) {
    parent = store
                 ->add("victim " + marker,
                       peft("{\"who\": \"" + marker + "\"}", bytes(3000, i) + marker), parent,
                       {{"report", marker + std::to_string(i)}}, i != 2)
                 .id;
  }
  // The search finds the marker before forget (in files, info and folder names).
  ASSERT_GE(files_containing(tmp.path(), marker).size(), 5u);
  EXPECT_EQ(store->forget("victim " + marker), 4u);
  EXPECT_THAT(files_containing(tmp.path(), marker), ::testing::IsEmpty());
  EXPECT_TRUE(store->versions("victim " + marker).empty());
  EXPECT_THAT(store->users(), ElementsAre("bystander"));
  EXPECT_EQ(store->forget("victim " + marker), 0u);
  EXPECT_EQ(store->forget("never seen"), 0u);
  // The bystander is intact, also after a reopen, and nothing of the victim comes back.
  store.reset();
  store = open_adapter_store(tmp / "a");
  EXPECT_THAT(store->users(), ElementsAre("bystander"));
  EXPECT_NO_THROW(store->open("bystander", store->current("bystander")->id));
  EXPECT_THAT(files_containing(tmp.path(), marker), ::testing::IsEmpty());
}

TEST(AdapterStore, RemovingTheLastVersionRemovesTheUser) {
  TempDir tmp;
  auto store = open_adapter_store(tmp / "a");
  auto v = store->add("alice", peft(1), "", nullptr);
  store->remove("alice", v.id);
  EXPECT_TRUE(store->users().empty());
  EXPECT_FALSE(store->current("alice").has_value());
  EXPECT_EQ(entries(tmp / "a"), std::set<std::string>{"adapter_store.lock"});
  // The user can start again.
  EXPECT_EQ(store->add("alice", peft(1), "", nullptr).id, v.id);
}

TEST(AdapterStore, BadArgumentsAreNamed) {
  TempDir tmp;
  auto store = open_adapter_store(tmp / "a");
  auto v = store->add("alice", peft(1), "", nullptr);
  const std::string unknown(32, 'a');
  expect_error<InvalidArgument>([&] { store->set_current("alice", unknown); },
                                {"user \"alice\" has no version \"" + unknown, v.id});
  expect_error<InvalidArgument>([&] { store->open("alice", "../x"); }, {"has no version \"../x\""});
  expect_error<InvalidArgument>([&] { store->remove("bob", v.id); },
                                {"user \"bob\" has no version", "versions: none"});
  expect_error<InvalidArgument>([&] { store->add("alice", peft(2), "parent?", nullptr); },
                                {"parent \"parent?\" is not a version id"});
  expect_error<InvalidArgument>([&] { store->add("alice", nullptr, "", nullptr); },
                                {"needs a writer function"});
  expect_error<InvalidArgument>(
      [&] {
        store->add(
            "alice", [](const fs::path&) {}, "", nullptr);
      },
      {"empty (a version needs at least one file)"});
  expect_error<InvalidArgument>(
      [&] {
        store->add(
            "alice", [](const fs::path& dir) { fs::create_directory(dir / "sub"); }, "", nullptr);
      },
      {"\"sub\"", "which is a folder"});
  expect_error<InvalidArgument>(
      [&] {
        store->add("alice", peft(2), "", {{"bad", std::string("\xff")}});
      },
      {"info cannot be stored as JSON"});
  // A writer's exception propagates and nothing is stored or left behind.
  EXPECT_THROW(store->add(
                   "carol",
                   [](const fs::path& dir) {
                     write_file(dir / "half", "x");
                     throw std::runtime_error("disk on fire");
                   },
                   "", nullptr),
               std::runtime_error);
  EXPECT_THAT(store->users(), ElementsAre("alice"));
  EXPECT_EQ(store->versions("alice"), std::vector<AdapterVersion>{v});
  EXPECT_EQ(entries(tmp / "a").size(), 2u);  // the lock file and alice's folder
  EXPECT_EQ(entries(only_user_dir(tmp / "a")), (std::set<std::string>{"manifest.json", v.id}));
}

TEST(AdapterStore, SecondOpenOfTheSameRootFails) {
  TempDir tmp;
  fs::path root = tmp / "a";
  auto store = open_adapter_store(root);
  expect_error<StoreError>([&] { open_adapter_store(root); },
                           {"adapter store " + root.string() + " is already open",
                            (root / "adapter_store.lock").string()});
  // The same root through another path is the same lock.
  EXPECT_THROW(open_adapter_store(root / ".." / "a"), StoreError);
  store.reset();
  EXPECT_NO_THROW(open_adapter_store(root));
}

TEST(AdapterStore, ConcurrentAddsAndReadsKeepManifestsConsistent) {
  TempDir tmp;
  AdapterStoreOptions options;
  options.keep_versions = 3;
  auto store = open_adapter_store(tmp / "a", options);
  constexpr int kThreads = 6;
  constexpr int kRounds = 12;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        const std::string own = "user" + std::to_string(t);
        std::string last_own;
        for (int k = 0; k < kRounds; ++k) {
          unsigned seed = static_cast<unsigned>(1000 * t + k);
          // Own user: strictly sequential, so every add becomes current.
          auto cur = store->current(own);
          EXPECT_EQ(cur ? cur->id : "", last_own);
          last_own = store->add(own, peft(seed), last_own, {{"t", t}, {"k", k}}).id;
          store->open(own, last_own);
          // A shared user, written by every thread; some adds repeat another thread's files.
          auto shared = store->add("shared", peft(k % 4 == 0 ? 7 : seed + 500000), "", {{"t", t}});
          (void)shared;
          try {
            if (auto c = store->current("shared")) store->open("shared", c->id);
          } catch (const InvalidArgument&) {
            // Pruned between current() and open(): a race the caller must expect.
          }
          // A user that is added to and forgotten concurrently.
          store->add("churn", peft(seed + 900000), "", nullptr);
          if (k % 3 == t % 3) store->forget("churn");
          auto all = store->users();
          EXPECT_TRUE(std::find(all.begin(), all.end(), own) != all.end());
          EXPECT_LE(store->versions("shared").size(), options.keep_versions + 2);
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "thread " << t << ": " << e.what();
        ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);

  std::map<std::string, std::vector<AdapterVersion>> seen;
  for (const auto& user : store->users()) {
    seen[user] = store->versions(user);
    EXPECT_LE(seen[user].size(), options.keep_versions + 2) << user;
    auto cur = store->current(user);
    ASSERT_TRUE(cur.has_value()) << user;
    for (const auto& v : seen[user]) EXPECT_NO_THROW(store->open(user, v.id)) << user;
  }
  for (int t = 0; t < kThreads; ++t) {
    const auto& vs = seen["user" + std::to_string(t)];
    ASSERT_EQ(vs.size(), options.keep_versions);
    EXPECT_EQ(vs.back().info["k"], kRounds - 1);
  }
  // What is on disk is what the store said.
  store.reset();
  store = open_adapter_store(tmp / "a", options);
  std::map<std::string, std::vector<AdapterVersion>> reopened;
  for (const auto& user : store->users()) reopened[user] = store->versions(user);
  EXPECT_EQ(reopened, seen);
}

}  // namespace
}  // namespace oap
