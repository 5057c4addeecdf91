// Where a model's tensors come from: a GGUF file or an HF safetensors folder. Both are
// asked by GGUF tensor name; the HF source translates with the tensor manifest.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace facet {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // The tensor with this GGUF name, or nullptr.
  virtual const TensorView* find(const std::string& gguf_name) const = 0;
  // Names of every tensor the source holds (in its own naming), for diagnostics.
  virtual std::vector<std::string> names() const = 0;
  virtual std::string format() const = 0;  // "gguf" or "safetensors"
  virtual uint64_t file_bytes() const = 0;  // total size of the mapped files
  // How the file itself names a tensor, for error messages (HF names for safetensors).
  virtual std::string source_name(const std::string& gguf_name) const { return gguf_name; }
  // Tells the source that [data, data + bytes) of one of its tensors will not be read soon
  // (a copy is used instead): a mapped file can give those pages back. Reading them later is
  // still correct. The default keeps them.
  virtual void release_pages(const void* data, size_t bytes) const { (void)data, (void)bytes; }
};

}  // namespace facet
