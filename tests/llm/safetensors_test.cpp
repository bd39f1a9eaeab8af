#include "oap/llm/safetensors.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "llm/model_test_util.hpp"
#include "oap/core/error.hpp"
#include "oap/llm/safetensors_checkpoint.hpp"

namespace oap {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

// Writes a safetensors file by hand: header JSON text + raw data bytes.
void write_raw(const std::filesystem::path& p, const std::string& header, const std::string& data,
               std::int64_t claimed_len = -1) {
  std::ofstream out(p, std::ios::binary);
  const std::uint64_t n =
      claimed_len >= 0 ? static_cast<std::uint64_t>(claimed_len) : header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xff));
  out << header << data;
}

std::string open_error(const std::filesystem::path& p) {
  try {
    SafeTensors::open(p);
  } catch (const IoError& e) {
    return e.what();
  }
  return "no error";
}

TEST(SafeTensors, RoundTripsEveryDtypeBitExactly) {
  TempDir dir;
  torch::manual_seed(3);
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f32", torch::randn({3, 5})},
      {"f64", torch::randn({2, 2}, torch::kDouble)},
      {"f16", torch::randn({4}).to(torch::kHalf)},
      {"bf16", torch::randn({2, 3, 2}).to(torch::kBFloat16)},
      {"i64", torch::randint(-1000, 1000, {7}, torch::kLong)},
      {"i32", torch::randint(-1000, 1000, {3}, torch::kInt)},
      {"i16", torch::randint(-1000, 1000, {5}, torch::kShort)},
      {"i8", torch::randint(-100, 100, {9}, torch::kChar)},
      {"u8", torch::randint(0, 255, {11}, torch::kByte)},
      {"bool", torch::randint(0, 2, {6}, torch::kLong).to(torch::kBool)},
      {"scalar", torch::tensor(2.5f).reshape({})},
      {"empty", torch::zeros({0, 4})},
  };
  const auto path = dir.path() / "all.safetensors";
  save_safetensors(path, tensors, {{"format", "pt"}});
  auto st = SafeTensors::open(path);
  EXPECT_EQ(st->metadata().at("format"), "pt");
  EXPECT_EQ(st->names().size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    auto back = st->tensor(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(back.sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(back, t)) << name;
  }
  // Data written here is 8-byte aligned, so every non-bool tensor aliases the mapping.
  EXPECT_TRUE(st->is_zero_copy("f32"));
  EXPECT_TRUE(st->is_zero_copy("i64"));
  EXPECT_FALSE(st->is_zero_copy("bool"));
}

TEST(SafeTensors, ZeroCopyTensorOutlivesReaderAndDoesNotWriteTheFile) {
  TempDir dir;
  const auto path = dir.path() / "a.safetensors";
  save_safetensors(path, {{"x", torch::arange(8, torch::kFloat)}});
  at::Tensor x;
  {
    auto st = SafeTensors::open(path);
    x = st->tensor("x");
  }
  EXPECT_FLOAT_EQ(x[7].item<float>(), 7.0f);  // the mapping is still alive
  x.fill_(-1);                                // private pages: the file is unchanged
  EXPECT_FLOAT_EQ(SafeTensors::open(path)->tensor("x")[7].item<float>(), 7.0f);
}

TEST(SafeTensors, MisalignedDataIsCopiedNotAliased) {
  TempDir dir;
  // Header of odd length and a 1-byte tensor first: the f32 tensor starts at an odd address.
  const std::string header =
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
  float vals[2] = {1.5f, -2.25f};
  std::string data(1, '\x07');
  data.append(reinterpret_cast<const char*>(vals), 8);
  write_raw(dir.path() / "m.safetensors", header, data);
  auto st = SafeTensors::open(dir.path() / "m.safetensors");
  EXPECT_FALSE(st->is_zero_copy("b"));
  auto b = st->tensor("b");
  EXPECT_FLOAT_EQ(b[0].item<float>(), 1.5f);
  EXPECT_FLOAT_EQ(b[1].item<float>(), -2.25f);
  EXPECT_EQ(st->tensor("a")[0].item<std::uint8_t>(), 7);
}

TEST(SafeTensors, RefusesTruncatedFile) {
  TempDir dir;
  const auto path = dir.path() / "t.safetensors";
  save_safetensors(path, {{"x", torch::ones({16})}});
  const auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size - 4);
  EXPECT_THAT(open_error(path), HasSubstr("lies past the end of the data section"));
  std::filesystem::resize_file(path, 5);
  EXPECT_THAT(open_error(path), HasSubstr("truncated"));
  std::filesystem::resize_file(path, 0);
  EXPECT_THAT(open_error(path), HasSubstr("truncated"));
}

TEST(SafeTensors, RefusesLyingHeaders) {
  TempDir dir;
  const auto p = dir.path() / "bad.safetensors";
  const std::string d8(8, '\0');
  write_raw(p, R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", d8);
  EXPECT_THAT(open_error(p), HasSubstr("shape x dtype needs 12"));
  write_raw(p, R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d8 + "junk");
  EXPECT_THAT(open_error(p), HasSubstr("file size mismatch"));
  write_raw(p, R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d8, 1000);
  EXPECT_THAT(open_error(p), HasSubstr("truncated safetensors file: header length 1000"));
  write_raw(p, R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d8,
            200ll * 1000 * 1000);
  EXPECT_THAT(open_error(p), HasSubstr("exceeds the 100000000-byte limit"));
  write_raw(p, R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", d8);
  EXPECT_THAT(open_error(p), HasSubstr("end before begin"));
  write_raw(p, R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", d8);
  EXPECT_THAT(open_error(p), HasSubstr("shape: expected a non-negative integer"));
  write_raw(p, R"({"x":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})",
            d8);
  EXPECT_THAT(open_error(p), HasSubstr("overflows"));
}

TEST(SafeTensors, RefusesOverlapsHolesUnknownDtypeDuplicatesAndBadJson) {
  TempDir dir;
  const auto p = dir.path() / "bad.safetensors";
  const std::string d8(8, '\0');
  write_raw(
      p,
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
      d8);
  EXPECT_THAT(open_error(p), HasSubstr("overlaps the previous tensor"));
  write_raw(p, R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8);
  EXPECT_THAT(open_error(p), HasSubstr("hole in the data section: bytes [0, 4)"));
  write_raw(p, R"({"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}})", d8);
  EXPECT_THAT(open_error(p), HasSubstr("unknown dtype 'F8_E4M3'"));
  write_raw(
      p,
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
      d8);
  EXPECT_THAT(open_error(p), HasSubstr("names tensor 'a' twice"));
  write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", d8);
  EXPECT_THAT(open_error(p), HasSubstr("not valid JSON"));
  write_raw(p, R"([1,2])", "");
  EXPECT_THAT(open_error(p), HasSubstr("must be a JSON object"));
  write_raw(p, R"({"__metadata__":{"k":1}})", "");
  EXPECT_THAT(open_error(p), HasSubstr("__metadata__['k'] must be a string"));
}

TEST(SafeTensors, WriterRefusesDuplicatesAndLeavesNoFileBehind) {
  TempDir dir;
  const auto p = dir.path() / "w.safetensors";
  try {
    save_safetensors(p, {{"x", torch::ones({1})}, {"x", torch::ones({1})}});
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_THAT(e.what(), HasSubstr("duplicate tensor name 'x'"));
  }
  EXPECT_FALSE(std::filesystem::exists(p));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(SafeTensorsCheckpoint, ReadsShardedCheckpointsThroughTheIndex) {
  TempDir dir;
  auto a = torch::randn({2, 3});
  auto b = torch::randn({4});
  auto c = torch::arange(5, torch::kLong);
  save_safetensors(dir.path() / "model-00001-of-00002.safetensors", {{"a", a}, {"b", b}});
  save_safetensors(dir.path() / "model-00002-of-00002.safetensors", {{"c", c}});
  nlohmann::json index = {{"metadata", {{"total_size", 0}}},
                          {"weight_map",
                           {{"a", "model-00001-of-00002.safetensors"},
                            {"b", "model-00001-of-00002.safetensors"},
                            {"c", "model-00002-of-00002.safetensors"}}}};
  std::ofstream(dir.path() / "model.safetensors.index.json") << index.dump();
  auto ck = SafeTensorsCheckpoint::open(dir.path());
  EXPECT_EQ(ck->num_shards(), 2u);
  EXPECT_EQ(ck->names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(torch::equal(ck->tensor("a"), a));
  EXPECT_TRUE(torch::equal(ck->tensor("b"), b));
  EXPECT_TRUE(torch::equal(ck->tensor("c"), c));
  EXPECT_EQ(ck->find("c")->dtype, DType::kI64);
  EXPECT_EQ(ck->find("zzz"), nullptr);
}

TEST(SafeTensorsCheckpoint, RefusesInconsistentIndex) {
  TempDir dir;
  save_safetensors(dir.path() / "s1.safetensors",
                   {{"a", torch::ones({1})}, {"b", torch::ones({1})}});
  auto write_index = [&](const nlohmann::json& map) {
    std::ofstream(dir.path() / "model.safetensors.index.json")
        << nlohmann::json{{"weight_map", map}}.dump();
  };
  auto error = [&]() -> std::string {
    try {
      SafeTensorsCheckpoint::open(dir.path());
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  write_index({{"a", "s1.safetensors"}});
  EXPECT_THAT(error(), HasSubstr("tensor 'b' in s1.safetensors is missing from weight_map"));
  write_index({{"a", "s1.safetensors"}, {"b", "s1.safetensors"}, {"c", "s1.safetensors"}});
  EXPECT_THAT(error(), HasSubstr("lists tensor 'c' in s1.safetensors, which does not hold it"));
  write_index({{"a", "../s1.safetensors"}});
  EXPECT_THAT(error(), HasSubstr("must be a plain file name"));
  write_index({{"a", "missing.safetensors"}});
  EXPECT_THAT(error(), HasSubstr("cannot open"));
  std::filesystem::remove(dir.path() / "model.safetensors.index.json");
  std::filesystem::remove(dir.path() / "s1.safetensors");
  EXPECT_THAT(error(), HasSubstr("has neither model.safetensors nor model.safetensors.index.json"));
}

}  // namespace
}  // namespace oap
