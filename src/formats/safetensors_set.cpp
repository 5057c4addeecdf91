// SafetensorsSet: a single file, or a Hugging Face model folder (sharded or not).
#include <filesystem>

#include "formats/safetensors.h"
#include "formats/strict_json.h"
#include "util/error.h"

namespace facet {
namespace {

namespace fs = std::filesystem;

constexpr const char* kIndexName = "model.safetensors.index.json";
constexpr const char* kSingleName = "model.safetensors";
constexpr uint64_t kMaxIndexBytes = 100'000'000;

bool is_directory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

bool exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

// Shard names come from an untrusted index file: they must name a file inside the model
// folder, so no separators and no "." / "..". (Shards may still be symlinks, as in the
// Hugging Face cache, which points snapshot files at content-addressed blobs.)
void check_shard_name(const std::string& shard, const std::string& index_path,
                      const std::string& tensor) {
  bool ok = !shard.empty() && shard != "." && shard != ".." &&
            shard.find('/') == std::string::npos && shard.find('\\') == std::string::npos &&
            shard.find('\0') == std::string::npos;
  require(ok, index_path, ": weight_map entry for tensor ", tensor, " names shard \"", shard,
          "\", which is not a plain file name inside the model folder");
}

}  // namespace

std::unique_ptr<SafetensorsSet> SafetensorsSet::open(const std::string& path) {
  std::unique_ptr<SafetensorsSet> set(new SafetensorsSet());
  set->path_ = path;
  if (!is_directory(path)) {
    set->add_whole_file(path);
    return set;
  }
  const std::string index_path = (fs::path(path) / kIndexName).string();
  const std::string single_path = (fs::path(path) / kSingleName).string();
  if (exists(index_path)) {
    set->open_index(path, index_path);
  } else if (exists(single_path)) {
    set->add_whole_file(single_path);
  } else {
    fail(path, ": folder has neither ", kIndexName, " nor ", kSingleName);
  }
  return set;
}

void SafetensorsSet::add_whole_file(const std::string& file_path) {
  files_.push_back(SafetensorsFile::open(file_path));
  for (const auto& t : files_.back()->tensors()) tensors_[t.name] = {files_.size() - 1, &t};
}

void SafetensorsSet::open_index(const std::string& dir, const std::string& index_path) {
  MappedFile index_file(index_path);
  require(index_file.size() <= kMaxIndexBytes, index_path, ": ", index_file.size(),
          " bytes is too large for an index");
  std::string_view text(reinterpret_cast<const char*>(index_file.data()), index_file.size());
  nlohmann::json index = parse_json_strict(text, index_path);
  require(index.is_object(), index_path, ": must be a JSON object");
  auto map_it = index.find("weight_map");
  require(map_it != index.end() && map_it->is_object(), index_path,
          ": needs a \"weight_map\" object (tensor name -> shard file)");
  require(!map_it->empty(), index_path, ": weight_map is empty");

  // Open each shard once, in order of first mention.
  std::map<std::string, size_t> shard_slot;
  for (const auto& [tensor_name, shard_value] : map_it->items()) {
    require(shard_value.is_string(), index_path, ": weight_map entry for tensor ", tensor_name,
            " must be a file name string");
    const auto& shard = shard_value.get_ref<const std::string&>();
    check_shard_name(shard, index_path, tensor_name);
    auto [slot, inserted] = shard_slot.emplace(shard, files_.size());
    if (inserted) {
      const std::string shard_path = (fs::path(dir) / shard).string();
      require(exists(shard_path), index_path, ": shard ", shard, " (holding tensor ",
              tensor_name, ") does not exist at ", shard_path);
      files_.push_back(SafetensorsFile::open(shard_path));
    }
    const SafetensorsFile& file = *files_[slot->second];
    const SafetensorsTensor* t = file.tensor(tensor_name);
    require(t != nullptr, index_path, ": tensor ", tensor_name, " is listed in shard ", shard,
            " but ", file.path(), " does not contain it");
    tensors_[tensor_name] = {slot->second, t};
  }
}

const SafetensorsTensor* SafetensorsSet::find(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : it->second.second;
}

const SafetensorsFile* SafetensorsSet::file_of(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : files_[it->second.first].get();
}

const TensorView& SafetensorsSet::view(std::string_view name) const {
  auto it = tensors_.find(name);
  require(it != tensors_.end(), path_, ": no tensor named ", name);
  const SafetensorsTensor& t = *it->second.second;
  require(t.supported, files_[it->second.first]->path(), ": tensor ", name, " has dtype ",
          t.dtype_name, ", which facet cannot compute with (F32, F16 and BF16 only)");
  return t.view;
}

std::vector<std::string> SafetensorsSet::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto& entry : tensors_) out.push_back(entry.first);
  return out;
}

std::vector<std::string> SafetensorsSet::file_paths() const {
  std::vector<std::string> out;
  for (const auto& f : files_) out.push_back(f->path());
  return out;
}

const std::map<std::string, std::string>& SafetensorsSet::metadata() const {
  return files_.front()->metadata();  // a set always holds at least one file
}

}  // namespace facet
