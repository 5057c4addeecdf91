#include "model/manifest_hf_source.h"

namespace facet {

ManifestHfSource::ManifestHfSource(std::unique_ptr<SafetensorsSet> set, const TensorNamePairs& names)
    : set_(std::move(set)) {
  for (const auto& [gguf_name, hf_name] : names) {
    add_name(gguf_name, hf_name);
    const SafetensorsTensor* t = set_->find(hf_name);
    if (t != nullptr && t->supported) add_view(gguf_name, t->view);
  }
}

const TensorView* ManifestHfSource::find(const std::string& gguf_name) const {
  auto it = views_.find(gguf_name);
  return it == views_.end() ? nullptr : &it->second;
}

uint64_t ManifestHfSource::file_bytes() const {
  uint64_t total = 0;
  for (const auto& f : set_->files()) total += f->file_size();
  return total;
}

std::string ManifestHfSource::source_name(const std::string& gguf_name) const {
  auto it = hf_names_.find(gguf_name);
  return it == hf_names_.end() ? gguf_name : it->second;
}

}  // namespace facet
