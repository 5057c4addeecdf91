#include "tensor/dtype.h"

#include <array>

#include "util/error.h"

namespace facet {
namespace {

// Block layouts follow GGML's definitions (ggml-common.h): e.g. Q8_0 = f16 scale +
// 32 int8; Q4_K = 256 elements in 144 bytes. Computable: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, NF4.
constexpr std::array<DTypeInfo, 21> kTypes = {{
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

}  // namespace

std::optional<DTypeInfo> dtype_info(uint32_t id) {
  for (const auto& t : kTypes)
    if (static_cast<uint32_t>(t.dtype) == id) return t;
  return std::nullopt;
}

const DTypeInfo& dtype_info(DType dtype) {
  // Indexed by id: WeightMatrix::row() asks for every row of every product (262k rows for
  // the output head), where a search of the table showed up in profiles.
  static const std::array<const DTypeInfo*, 64> by_id = [] {
    std::array<const DTypeInfo*, 64> table{};
    for (const auto& t : kTypes)
      if (static_cast<uint32_t>(t.dtype) < table.size()) table[static_cast<uint32_t>(t.dtype)] = &t;
    return table;
  }();
  const auto id = static_cast<uint32_t>(dtype);
  if (id < by_id.size() && by_id[id] != nullptr) return *by_id[id];
  for (const auto& t : kTypes)
    if (t.dtype == dtype) return t;
  fail("internal: dtype id ", static_cast<uint32_t>(dtype), " missing from the type table");
}

std::string_view dtype_name(DType dtype) { return dtype_info(dtype).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& t : kTypes)
    if (t.name == name) return t.dtype;
  return std::nullopt;
}

size_t dtype_row_bytes(DType dtype, int64_t count) {
  const auto& info = dtype_info(dtype);
  return static_cast<size_t>(count / info.block_size) * info.block_bytes;
}

}  // namespace facet
