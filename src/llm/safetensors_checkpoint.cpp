#include "oap/llm/safetensors_checkpoint.hpp"

#include <nlohmann/json.hpp>

#include "oap/core/error.hpp"
#include "oap/core/json_config.hpp"

namespace oap {

std::unique_ptr<SafeTensorsCheckpoint> SafeTensorsCheckpoint::open(
    const std::filesystem::path& path) {
  std::unique_ptr<SafeTensorsCheckpoint> ck(new SafeTensorsCheckpoint());
  auto add_shard = [&](const std::filesystem::path& file) {
    ck->shards_.push_back(SafeTensors::open(file));
    return ck->shards_.size() - 1;
  };
  if (!std::filesystem::is_directory(path)) {
    const std::size_t s = add_shard(path);
    for (const auto& e : ck->shards_[s]->header().tensors) ck->index_[e.name] = s;
    return ck;
  }
  const auto index_path = path / "model.safetensors.index.json";
  if (!std::filesystem::exists(index_path)) {
    const auto single = path / "model.safetensors";
    OAP_CHECK(std::filesystem::exists(single), IoError,
              path.string() + " has neither model.safetensors nor model.safetensors.index.json");
    const std::size_t s = add_shard(single);
    for (const auto& e : ck->shards_[s]->header().tensors) ck->index_[e.name] = s;
    return ck;
  }
  const nlohmann::json index = load_json_file(index_path);
  const std::string where = index_path.string();
  OAP_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
            IoError, where + ": expected an object with a \"weight_map\" object");
  std::map<std::string, std::size_t> shard_by_file;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    OAP_CHECK(it.value().is_string(), IoError,
              where + ": weight_map['" + it.key() + "'] must be a file name");
    const std::string file = it.value().get<std::string>();
    // A shard name comes from an untrusted file: it must stay inside the model folder.
    OAP_CHECK(!file.empty() && file.find('/') == std::string::npos &&
                  file.find('\\') == std::string::npos && file != "." && file != "..",
              IoError,
              where + ": shard name '" + file + "' for tensor '" + it.key() +
                  "' must be a plain file name in the model folder");
    auto found = shard_by_file.find(file);
    if (found == shard_by_file.end()) {
      found = shard_by_file.emplace(file, add_shard(path / file)).first;
    }
    const auto& shard = *ck->shards_[found->second];
    OAP_CHECK(shard.contains(it.key()), IoError,
              where + ": lists tensor '" + it.key() + "' in " + file + ", which does not hold it");
    ck->index_[it.key()] = found->second;
  }
  // Tensors present in a shard but not in the index would be silently unreachable; a tensor in
  // two shards is ambiguous. Both mean the index and the shards disagree.
  for (std::size_t s = 0; s < ck->shards_.size(); ++s) {
    for (const auto& e : ck->shards_[s]->header().tensors) {
      const auto it = ck->index_.find(e.name);
      OAP_CHECK(it != ck->index_.end(), IoError,
                where + ": tensor '" + e.name + "' in " +
                    ck->shards_[s]->path().filename().string() + " is missing from weight_map");
      OAP_CHECK(it->second == s, IoError,
                where + ": tensor '" + e.name + "' appears in both " +
                    ck->shards_[s]->path().filename().string() + " and " +
                    ck->shards_[it->second]->path().filename().string());
    }
  }
  return ck;
}

std::vector<std::string> SafeTensorsCheckpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, s] : index_) out.push_back(name);
  return out;
}

bool SafeTensorsCheckpoint::contains(std::string_view name) const {
  return index_.find(name) != index_.end();
}

const SafeTensorsEntry* SafeTensorsCheckpoint::find(std::string_view name) const {
  const auto it = index_.find(name);
  return it == index_.end() ? nullptr : shards_[it->second]->header().find(name);
}

const SafeTensors& SafeTensorsCheckpoint::shard_of(std::string_view name) const {
  const auto it = index_.find(name);
  OAP_CHECK(it != index_.end(), InvalidArgument,
            "checkpoint has no tensor named '" + std::string(name) + "'");
  return *shards_[it->second];
}

at::Tensor SafeTensorsCheckpoint::tensor(std::string_view name) const {
  return shard_of(name).tensor(name);
}

}  // namespace oap
