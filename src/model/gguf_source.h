// WeightSource over one GGUF file.
#pragma once

#include <memory>

#include "formats/gguf.h"
#include "model/weight_source.h"

namespace facet {

class GgufWeightSource : public WeightSource {
 public:
  explicit GgufWeightSource(std::unique_ptr<GgufFile> file) : file_(std::move(file)) {}
  const TensorView* find(const std::string& name) const override {
    const GgufTensor* t = file_->tensor(name);
    return t ? &t->view : nullptr;
  }
  std::vector<std::string> names() const override {
    std::vector<std::string> out;
    for (const auto& t : file_->tensors()) out.push_back(t.name);
    return out;
  }
  std::string format() const override { return "gguf"; }
  uint64_t file_bytes() const override { return file_->file_size(); }
  void release_pages(const void* data, size_t bytes) const override { file_->release_pages(data, bytes); }
  const GgufFile& file() const { return *file_; }

 private:
  std::unique_ptr<GgufFile> file_;
};

}  // namespace facet
