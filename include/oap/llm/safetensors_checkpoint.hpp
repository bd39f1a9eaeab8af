#pragma once
// SafeTensorsCheckpoint: the weights of a Hugging Face model folder, one file or sharded.

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "oap/llm/safetensors.hpp"

namespace oap {

// All tensors of a checkpoint: model.safetensors, or the shards listed in
// model.safetensors.index.json ({"weight_map": {tensor: shard file}}), each shard memory-mapped
// (see SafeTensors). Shard names must be plain file names inside the folder; a tensor the index
// lists must exist in its shard, and no tensor may be in two shards.
// Thread safety: const methods are safe to call from many threads at once.
class SafeTensorsCheckpoint {
 public:
  // path: a model folder, or a single .safetensors file. Throws IoError naming what is missing
  // or inconsistent.
  static std::unique_ptr<SafeTensorsCheckpoint> open(const std::filesystem::path& path);

  std::vector<std::string> names() const;
  bool contains(std::string_view name) const;
  // The entry (dtype, shape) of name, or nullptr.
  const SafeTensorsEntry* find(std::string_view name) const;
  // See SafeTensors::tensor. Throws InvalidArgument naming the tensor if absent.
  at::Tensor tensor(std::string_view name) const;
  std::size_t num_shards() const { return shards_.size(); }

 private:
  SafeTensorsCheckpoint() = default;
  const SafeTensors& shard_of(std::string_view name) const;

  std::vector<std::unique_ptr<SafeTensors>> shards_;
  std::map<std::string, std::size_t, std::less<>> index_;  // tensor name -> shard
};

}  // namespace oap
