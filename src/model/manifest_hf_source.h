// A WeightSource over an HF safetensors folder whose tensors are asked for by their GGUF
// names: a manifest's (GGUF name, HF name) pairs translate each lookup, and error messages
// show the HF name, the one the user's files contain.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "formats/safetensors.h"
#include "model/weight_source.h"

namespace facet {

// (GGUF name, HF name) of each tensor a manifest lists.
using TensorNamePairs = std::vector<std::pair<std::string, std::string>>;

// The name pairs of any manifest whose entries have gguf_name and hf_name.
template <class Spec>
TensorNamePairs tensor_name_pairs(const std::vector<Spec>& manifest) {
  TensorNamePairs out;
  out.reserve(manifest.size());
  for (const Spec& spec : manifest) out.emplace_back(spec.gguf_name, spec.hf_name);
  return out;
}

class ManifestHfSource : public WeightSource {
 public:
  // A pair whose HF tensor the folder lacks, or holds in a dtype facet does not read, is
  // simply not found: the binder reports it (by its HF name) if the model needs it.
  ManifestHfSource(std::unique_ptr<SafetensorsSet> set, const TensorNamePairs& names);

  const TensorView* find(const std::string& gguf_name) const override;
  std::vector<std::string> names() const override { return set_->names(); }
  std::string format() const override { return "safetensors"; }
  uint64_t file_bytes() const override;
  std::string source_name(const std::string& gguf_name) const override;

  const SafetensorsSet& set() const { return *set_; }

 protected:
  // For sources that decide per tensor what to map (see hf_source.cpp).
  explicit ManifestHfSource(std::unique_ptr<SafetensorsSet> set) : set_(std::move(set)) {}
  void add_name(const std::string& gguf_name, const std::string& hf_name) { hf_names_[gguf_name] = hf_name; }
  void add_view(const std::string& gguf_name, const TensorView& view) { views_[gguf_name] = view; }

 private:
  std::unique_ptr<SafetensorsSet> set_;
  std::map<std::string, TensorView> views_;      // by GGUF name
  std::map<std::string, std::string> hf_names_;  // GGUF name -> HF name
};

}  // namespace facet
