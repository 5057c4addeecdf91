// Element types of weights and activations.
//
// The numeric values are GGML's type ids, so a GGUF file's type field maps straight
// onto DType. Block-quantized types store `block_size` elements in `block_bytes`
// bytes; plain types have block_size 1. Types facet can read but not yet compute
// with are still listed (so a file using them gets a precise "not supported yet"
// error rather than "unknown type").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace facet {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
  // Not a GGML type: bitsandbytes NF4 (QLoRA), kept outside GGML's id range.
  NF4 = 1000,
};

struct DTypeInfo {
  DType dtype;
  std::string_view name;   // as GGUF tools print it: "F32", "Q4_K", ...
  uint32_t block_size;     // elements per block (1 for plain types)
  uint32_t block_bytes;    // bytes per block
  bool computable;         // facet has kernels for it (weights of this type can be used)
};

// Information about a type, or nullopt for an unknown id.
std::optional<DTypeInfo> dtype_info(uint32_t id);
const DTypeInfo& dtype_info(DType dtype);
std::string_view dtype_name(DType dtype);
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes needed for `count` elements (count must be a multiple of the block size).
size_t dtype_row_bytes(DType dtype, int64_t count);

}  // namespace facet
