#include "model/hf_loader.h"

#include <sys/stat.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/json_depth.h"
#include "model/arch.h"
#include "model/safetensors.h"
#include "model/validate.h"
#include "model/tensor_source.h"

namespace detinfer {

namespace {

using json = nlohmann::json;

// config.json / the index are small; anything larger is not one.
constexpr size_t kMaxJsonBytes = 64u << 20;

bool IsRegularFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<std::string> ReadJsonFile(const std::string& path) {
  DETINFER_ASSIGN_OR_RETURN(MappedFile f, MappedFile::Open(path));
  if (f.size() > kMaxJsonBytes) {
    return Status::InvalidArgument(path + ": " + std::to_string(f.size()) +
                                   " bytes is too large for a JSON file (limit " +
                                   std::to_string(kMaxJsonBytes) + ")");
  }
  return std::string(reinterpret_cast<const char*>(f.data()), f.size());
}

class ShardLookup : public TensorLookup {
 public:
  std::string dir;
  std::vector<SafetensorsFile> shards;
  std::map<std::string, size_t> where;  // tensor name -> shard

  bool Has(const std::string& name) const override { return where.count(name) != 0; }
  Result<TensorView> Get(const std::string& name) const override {
    auto it = where.find(name);
    if (it == where.end()) return Status::NotFound(dir + ": missing tensor '" + name + "'");
    return shards[it->second].View(name);
  }
  std::vector<std::string> Names() const override {
    std::vector<std::string> out;
    for (const auto& [name, shard] : where) out.push_back(name);
    return out;
  }
  std::string Where() const override { return dir; }
};

// Shard names come from the index file, i.e. from the untrusted input: only plain file names
// inside the model directory are accepted (no path separators, no "..").
Status CheckShardName(const std::string& name, const std::string& index_path) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos) {
    return Status::InvalidArgument(index_path + ": weight_map names shard '" + name +
                                   "', which is not a plain file name in the model directory");
  }
  return Status::Ok();
}

Status OpenShards(const std::string& dir, ShardLookup* lookup) {
  const std::string single = dir + "/model.safetensors";
  const std::string index_path = dir + "/model.safetensors.index.json";
  lookup->dir = dir;
  if (IsRegularFile(single)) {
    DETINFER_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Open(single));
    for (const auto& [name, t] : f.tensors()) lookup->where[name] = 0;
    lookup->shards.push_back(std::move(f));
    return Status::Ok();
  }
  if (!IsRegularFile(index_path)) {
    return Status::NotFound(dir + ": neither model.safetensors nor "
                            "model.safetensors.index.json exists");
  }
  DETINFER_ASSIGN_OR_RETURN(std::string text, ReadJsonFile(index_path));
  DETINFER_ASSIGN_OR_RETURN(auto weight_map, ParseSafetensorsIndex(text, index_path));
  std::map<std::string, size_t> shard_index;
  for (const auto& [tensor, name] : weight_map) {
    auto [it, inserted] = shard_index.emplace(name, lookup->shards.size());
    if (inserted) {
      DETINFER_ASSIGN_OR_RETURN(SafetensorsFile f, SafetensorsFile::Open(dir + "/" + name));
      lookup->shards.push_back(std::move(f));
    }
    if (lookup->shards[it->second].Find(tensor) == nullptr) {
      return Status::NotFound(index_path + ": weight_map puts tensor '" + tensor + "' in " +
                              name + ", which does not contain it");
    }
    lookup->where[tensor] = it->second;
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> ParseSafetensorsIndex(
    std::string_view json_text, const std::string& source) {
  DETINFER_RETURN_IF_ERROR(CheckJsonDepth(json_text, kMaxJsonDepth, source));
  const json index = json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (index.is_discarded() || !index.is_object()) {
    return Status::InvalidArgument(source + ": not a JSON object");
  }
  auto map = index.find("weight_map");
  if (map == index.end() || !map->is_object()) {
    return Status::InvalidArgument(source + ": missing object \"weight_map\"");
  }
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(map->size());
  for (const auto& [tensor, file] : map->items()) {
    if (!file.is_string()) {
      return Status::InvalidArgument(source + ": weight_map entry for '" + tensor +
                                     "' is not a file name: " + file.dump());
    }
    std::string name = file.get<std::string>();
    DETINFER_RETURN_IF_ERROR(CheckShardName(name, source));
    out.emplace_back(tensor, std::move(name));
  }
  return out;
}

Result<ModelWeights> LoadHfDirectory(const std::string& dir) {
  const std::string config_path = dir + "/config.json";
  DETINFER_ASSIGN_OR_RETURN(std::string config_text, ReadJsonFile(config_path));
  ModelWeights w;
  DETINFER_ASSIGN_OR_RETURN(w.config, ParseHfConfig(config_text, config_path));
  w.format = ModelFormat::kHuggingFace;
  w.source = dir;
  ShardLookup lookup;
  DETINFER_RETURN_IF_ERROR(OpenShards(dir, &lookup));
  const NameScheme names{&HfTensorName, {}, &HfExpertTensorName};
  DETINFER_RETURN_IF_ERROR(AssembleWeights(lookup, names, &w));
  for (SafetensorsFile& f : lookup.shards) w.files.push_back(f.TakeFile());
  DETINFER_RETURN_IF_ERROR(ValidateWeights(w));
  return w;
}

}  // namespace detinfer
