// AdapterStore: damaged versions and manifests, and what interrupted operations leave behind.

#include "oap/adapt/adapter_store.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

// A user with two versions, v1 and (current) v2, for the corruption tests.
struct TwoVersions {
  TempDir tmp;
  std::unique_ptr<AdapterStore> store = open_adapter_store(tmp / "a");
  AdapterVersion v1 = store->add("alice", peft(1), "", nullptr);
  AdapterVersion v2 = store->add("alice", peft(2), v1.id, nullptr);
  fs::path v2_dir = only_user_dir(tmp / "a") / v2.id;

  // open(v2) fails naming user, version and what; after remove(v2) the user falls back to v1.
  void expect_corrupt_then_fall_back(const std::vector<std::string>& what) {
    std::vector<std::string> parts{"user \"alice\"", "version " + v2.id};
    parts.insert(parts.end(), what.begin(), what.end());
    expect_error<StoreError>([&] { store->open("alice", v2.id); }, parts);
    store->remove("alice", v2.id);
    EXPECT_EQ(store->current("alice"), v1);
    EXPECT_EQ(read_file(store->open("alice", v1.id) / "adapter_model.safetensors"), bytes(4096, 1));
    EXPECT_FALSE(fs::exists(v2_dir));
  }
};

TEST(AdapterStore, TruncatedFileIsReported) {
  TwoVersions t;
  fs::resize_file(t.v2_dir / "adapter_model.safetensors", 100);
  t.expect_corrupt_then_fall_back(
      {"adapter_model.safetensors", "has 100 bytes, expected 4096 (truncated)"});
}

TEST(AdapterStore, FlippedByteIsReported) {
  TwoVersions t;
  auto file = t.v2_dir / "adapter_model.safetensors";
  std::string data = read_file(file);
  data[1234] = static_cast<char>(data[1234] ^ 0x10);
  write_file(file, data);
  t.expect_corrupt_then_fall_back({"file adapter_model.safetensors was altered", "content hash"});
}

TEST(AdapterStore, DeletedFileIsReported) {
  TwoVersions t;
  fs::remove(t.v2_dir / "adapter_config.json");
  t.expect_corrupt_then_fall_back({"file adapter_config.json is missing"});
}

TEST(AdapterStore, ExtraFileIsReported) {
  TwoVersions t;
  write_file(t.v2_dir / "stray.bin", "x");
  t.expect_corrupt_then_fall_back({"unexpected file stray.bin"});
}

TEST(AdapterStore, DeletedVersionFolderIsReportedAlsoAfterReopen) {
  TwoVersions t;
  fs::remove_all(t.v2_dir);
  t.store.reset();
  t.store = open_adapter_store(t.tmp / "a");
  EXPECT_EQ(t.store->current("alice"), t.v2);  // the manifest is the truth
  t.expect_corrupt_then_fall_back({"version folder", "is missing"});
}

TEST(AdapterStore, GarbageManifestIsAClearErrorForThatUserOnly) {
  TwoVersions t;
  t.store->add("bob", peft(7), "", nullptr);
  fs::path alice_manifest;
  for (const auto& e : fs::directory_iterator(t.tmp / "a")) {
    if (e.path().filename().string().rfind("alice", 0) == 0) {
      alice_manifest = e.path() / "manifest.json";
    }
  }
  ASSERT_FALSE(alice_manifest.empty());
  t.store.reset();
  write_file(alice_manifest, "{\"format\": \"oap.adapter_manifest\", garbage");
  t.store = open_adapter_store(t.tmp / "a");
  for (auto call : std::vector<std::function<void()>>{
           [&] { t.store->versions("alice"); }, [&] { t.store->current("alice"); },
           [&] { t.store->open("alice", t.v1.id); }, [&] { t.store->users(); },
           [&] { t.store->add("alice", peft(9), "", nullptr); }}) {
    expect_error<StoreError>(
        call, {"corrupt adapter manifest " + alice_manifest.string(), "invalid JSON"});
  }
  EXPECT_EQ(t.store->versions("bob").size(), 1u);  // other users are unaffected
  EXPECT_TRUE(fs::exists(alice_manifest));         // nothing was silently dropped
  // forget() still deletes the user.
  EXPECT_EQ(t.store->forget("alice"), 0u);
  EXPECT_THAT(t.store->users(), ElementsAre("bob"));
}

TEST(AdapterStore, InconsistentManifestIsAClearError) {
  TwoVersions t;
  fs::path manifest = only_user_dir(t.tmp / "a") / "manifest.json";
  t.store.reset();
  nlohmann::json j = nlohmann::json::parse(read_file(manifest));
  auto size = j["versions"][1]["files"][0]["size"];
  j["versions"][1]["files"][0]["size"] = 1;  // no longer matches the version id
  write_file(manifest, j.dump());
  t.store = open_adapter_store(t.tmp / "a");
  expect_error<StoreError>([&] { t.store->versions("alice"); },
                           {manifest.string(), "manifest.versions[1].id: " + t.v2.id,
                            "does not match the version's file list"});

  j["versions"][1]["files"][0]["size"] = size;
  j["current"] = "0123";
  write_file(manifest, j.dump());
  t.store.reset();
  t.store = open_adapter_store(t.tmp / "a");
  expect_error<StoreError>([&] { t.store->versions("alice"); },
                           {"manifest.current: \"0123\" is not one of the versions"});
}

TEST(AdapterStore, OpenCleansWhatACrashLeftBehind) {
  TempDir tmp;
  fs::path root = tmp / "a";
  AdapterVersion v;
  {
    auto store = open_adapter_store(root);
    v = store->add("alice", peft(1), "", nullptr);
  }
  fs::path dir = only_user_dir(root);
  // An add interrupted while writing, one interrupted after the rename, an interrupted
  // manifest write, a forget interrupted after its rename, and a first add interrupted before
  // the user's manifest existed.
  fs::create_directories(root / ".tmp-99-0");
  write_file(root / ".tmp-99-0" / "adapter_model.safetensors", "partial");
  const std::string orphan(32, 'e');
  fs::create_directories(dir / orphan);
  write_file(dir / orphan / "adapter_model.safetensors", "unlisted");
  write_file(dir / "manifest.json.tmp.99.3", "{");
  fs::create_directories(root / ".trash-99-1" / "x");
  fs::create_directories(root / ("bob_" + std::string(16, '0')));
  write_file(root / ("bob_" + std::string(16, '0')) / "manifest.json.tmp.99.0", "{");

  auto store = open_adapter_store(root);
  EXPECT_EQ(entries(root), (std::set<std::string>{"adapter_store.lock", dir.filename()}));
  EXPECT_EQ(entries(dir), (std::set<std::string>{"manifest.json", v.id}));
  EXPECT_EQ(store->current("alice"), v);
  EXPECT_NO_THROW(store->open("alice", v.id));
}

TEST(AdapterStore, AUserFolderWithoutManifestButWithFilesIsReported) {
  TempDir tmp;
  fs::path root = tmp / "a";
  {
    auto store = open_adapter_store(root);
    store->add("alice", peft(1), "", nullptr);
  }
  fs::path dir = only_user_dir(root);
  fs::remove(dir / "manifest.json");
  auto store = open_adapter_store(root);
  expect_error<StoreError>([&] { store->versions("alice"); },
                           {dir.string(), "has no manifest.json but holds files"});
  EXPECT_TRUE(fs::exists(dir));
}

}  // namespace
}  // namespace oap
