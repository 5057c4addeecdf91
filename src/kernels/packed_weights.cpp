#include "kernels/packed_weights.h"

#include <cstdlib>
#include <cstring>

#include "kernels/matmul_simd.h"
#include "tensor/quant_blocks.h"
#include "util/error.h"

namespace facet {
namespace {

size_t round_up_64(size_t n) { return (n + 63) / 64 * 64; }

bool repack_disabled() {
  const char* v = std::getenv("FACET_NO_REPACK");
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

// qs bytes of one block of one row (0: no packed layout).
size_t qs_bytes(DType dtype) { return dtype == DType::Q4_0 ? 16 : dtype == DType::Q8_0 ? 32 : 0; }

template <class Block>
void pack_groups(const WeightMatrix& w, uint8_t* out) {
  const int64_t n_blocks = w.cols / 32;
  const size_t group_bytes = packed_group_bytes(w.dtype, w.cols), q_offset = packed_q_offset(w.dtype, w.cols);
  constexpr int kDwords = sizeof(Block::qs) / 4;
  for (int64_t g = 0; g < w.rows / kPackedRows; ++g) {
    uint8_t* group = out + static_cast<size_t>(g) * group_bytes;
    std::memset(group, 0, q_offset);  // the padding after the scales
    auto* scales = reinterpret_cast<uint16_t*>(group);
    uint8_t* q = group + q_offset;
    for (int r = 0; r < kPackedRows; ++r) {
      const auto* blocks = reinterpret_cast<const Block*>(w.row(g * kPackedRows + r));
      for (int64_t b = 0; b < n_blocks; ++b) {
        scales[b * kPackedRows + r] = blocks[b].d;
        for (int s = 0; s < kDwords; ++s)
          std::memcpy(q + ((b * kDwords + s) * kPackedRows + r) * 4, blocks[b].qs + 4 * s, 4);
      }
    }
  }
}

}  // namespace

size_t packed_q_offset(DType dtype, int64_t cols) {
  if (qs_bytes(dtype) == 0) return 0;
  return round_up_64(static_cast<size_t>(cols / 32) * kPackedRows * sizeof(uint16_t));
}

size_t packed_group_bytes(DType dtype, int64_t cols) {
  if (qs_bytes(dtype) == 0) return 0;
  return packed_q_offset(dtype, cols) + static_cast<size_t>(cols / 32) * kPackedRows * qs_bytes(dtype);
}

size_t packed_bytes(const WeightMatrix& w) {
  if (w.rows <= 0 || w.rows % kPackedRows != 0 || w.cols <= 0 || w.cols % 32 != 0) return 0;
  if (!matmul_reads_packed_weights(w.dtype) || repack_disabled()) return 0;
  return static_cast<size_t>(w.rows / kPackedRows) * packed_group_bytes(w.dtype, w.cols);
}

void pack_weights(const WeightMatrix& w, uint8_t* out) {
  require(w.rows % kPackedRows == 0 && w.cols % 32 == 0, "internal: pack_weights on rows that are not whole groups");
  switch (w.dtype) {
    case DType::Q4_0: pack_groups<BlockQ4_0>(w, out); break;
    case DType::Q8_0: pack_groups<BlockQ8_0>(w, out); break;
    default: fail("internal: pack_weights has no packed layout for ", dtype_name(w.dtype));
  }
}

}  // namespace facet
