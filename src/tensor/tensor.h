// A non-owning view of a tensor's bytes: type, shape and a pointer into a
// memory-mapped file (or any buffer that outlives the view).
//
// Shapes are row-major, outermost dimension first — PyTorch order. A GGUF tensor with
// ggml dims ne = {in, out} is shape {out, in} here; the bytes are identical, so both file
// formats yield the same view of the same weight.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace facet {

struct TensorView {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;  // outermost first
  const uint8_t* data = nullptr;

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t dim(int64_t i) const { return shape[static_cast<size_t>(i)]; }
  int64_t numel() const;
  // Size of the innermost dimension (a "row"), and the number of rows.
  int64_t row_length() const { return shape.empty() ? 1 : shape.back(); }
  int64_t row_count() const { return row_length() == 0 ? 0 : numel() / row_length(); }
  size_t row_bytes() const { return dtype_row_bytes(dtype, row_length()); }
  size_t byte_size() const { return dtype_row_bytes(dtype, numel()); }
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes(); }
};

std::string shape_string(const std::vector<int64_t>& shape);  // "[262144, 1536]"

}  // namespace facet
