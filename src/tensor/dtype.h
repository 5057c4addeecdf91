// Element types of weights and activations.
//
// The numeric values are GGML's type ids, so a GGUF file's type field maps straight
// onto DType. Block-quantized types store `block_size` elements in `block_bytes`
// bytes; plain types have block_size 1. Types facet can read but not yet compute
// with are still listed (so a file using them gets a precise "not supported yet"
// error rather than "unknown type").
#pragma once

#include <array>
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

namespace detail {

// Block layouts follow GGML's definitions (ggml-common.h): e.g. Q8_0 = f16 scale +
// 32 int8; Q4_K = 256 elements in 144 bytes. Computable: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, NF4.
inline constexpr std::array<DTypeInfo, 21> kDTypeTable = {{
    {DType::F32, "F32", 1, 4, true},
    {DType::F16, "F16", 1, 2, true},
    {DType::Q4_0, "Q4_0", 32, 18, true},
    {DType::Q4_1, "Q4_1", 32, 20, false},
    {DType::Q5_0, "Q5_0", 32, 22, false},
    {DType::Q5_1, "Q5_1", 32, 24, false},
    {DType::Q8_0, "Q8_0", 32, 34, true},
    {DType::Q8_1, "Q8_1", 32, 36, false},
    {DType::Q2_K, "Q2_K", 256, 84, false},
    {DType::Q3_K, "Q3_K", 256, 110, false},
    {DType::Q4_K, "Q4_K", 256, 144, true},
    {DType::Q5_K, "Q5_K", 256, 176, false},
    {DType::Q6_K, "Q6_K", 256, 210, true},
    {DType::Q8_K, "Q8_K", 256, 292, false},
    {DType::I8, "I8", 1, 1, false},
    {DType::I16, "I16", 1, 2, false},
    {DType::I32, "I32", 1, 4, false},
    {DType::I64, "I64", 1, 8, false},
    {DType::F64, "F64", 1, 8, false},
    {DType::BF16, "BF16", 1, 2, true},
    // NF4 as facet holds it (tensor/nf4.h): per 64 elements an f32 absmax (decoded from
    // bitsandbytes' double quantization at load time) and 32 bytes of 4-bit codes.
    {DType::NF4, "NF4", 64, 36, true},
}};

// Table index by id for the ids below 64 (GGML's), -1 where none: WeightMatrix::row() asks
// for the row size of every row of every product (262144 rows for the output head), so the
// lookup is inline and constant-time.
inline constexpr std::array<int8_t, 64> kDTypeIndexById = [] {
  std::array<int8_t, 64> index{};
  index.fill(-1);
  for (size_t i = 0; i < kDTypeTable.size(); ++i)
    if (static_cast<uint32_t>(kDTypeTable[i].dtype) < index.size())
      index[static_cast<uint32_t>(kDTypeTable[i].dtype)] = static_cast<int8_t>(i);
  return index;
}();

}  // namespace detail

// Information about a type, or nullopt for an unknown id.
std::optional<DTypeInfo> dtype_info(uint32_t id);
// The table entry of an id outside kDTypeIndexById (NF4); fails for a value not in the table.
const DTypeInfo& dtype_info_by_search(DType dtype);
inline const DTypeInfo& dtype_info(DType dtype) {
  const auto id = static_cast<uint32_t>(dtype);
  if (id < detail::kDTypeIndexById.size() && detail::kDTypeIndexById[id] >= 0)
    return detail::kDTypeTable[static_cast<size_t>(detail::kDTypeIndexById[id])];
  return dtype_info_by_search(dtype);
}
std::string_view dtype_name(DType dtype);
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes needed for `count` elements (count must be a multiple of the block size).
inline size_t dtype_row_bytes(DType dtype, int64_t count) {
  const DTypeInfo& info = dtype_info(dtype);
  return static_cast<size_t>(count / info.block_size) * info.block_bytes;
}

}  // namespace facet
