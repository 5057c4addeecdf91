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

// A group is made of units (a block of 32 columns; Q4_K: a super-block of 256): first every
// unit's scales (`head` bytes for 16 rows), padded to 64 bytes, then every unit's weight bytes.
struct GroupLayout {
  int64_t unit_cols = 0;  // 0: no packed layout for the type
  size_t head = 0, q = 0;
};

GroupLayout layout_of(DType dtype) {
  switch (dtype) {
    case DType::Q4_0: return {32, kPackedRows * 2, kPackedRows * 16};
    case DType::Q8_0: return {32, kPackedRows * 2, kPackedRows * 32};
    // d, dmin (f16) and the 8 sub-blocks' sc, m (a byte each): 320 bytes; qs 2048.
    case DType::Q4_K: return {kQK_K, kPackedRows * (2 + 2 + 8 + 8), kPackedRows * 128};
    // d (f16) and the 16 int8 sub-block scales: 288 bytes; ql and qh 3072, as in the file.
    case DType::Q6_K: return {kQK_K, kPackedRows * (2 + 16), kPackedRows * 192};
    default: return {};
  }
}

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

// Q4_K: per super-block, d and dmin (f16) then sc and m (6-bit, a byte each) of its 8
// sub-blocks, 16 rows each.
void pack_q4_k(const WeightMatrix& w, uint8_t* out) {
  const int64_t n_super = w.cols / kQK_K;
  const size_t group_bytes = packed_group_bytes(w.dtype, w.cols), q_offset = packed_q_offset(w.dtype, w.cols);
  for (int64_t g = 0; g < w.rows / kPackedRows; ++g) {
    uint8_t* group = out + static_cast<size_t>(g) * group_bytes;
    for (int r = 0; r < kPackedRows; ++r) {
      const auto* blocks = reinterpret_cast<const BlockQ4_K*>(w.row(g * kPackedRows + r));
      for (int64_t s = 0; s < n_super; ++s) {
        uint8_t* head = group + s * layout_of(DType::Q4_K).head;
        std::memcpy(head + 2 * r, &blocks[s].d, 2);
        std::memcpy(head + 32 + 2 * r, &blocks[s].dmin, 2);
        for (int j = 0; j < 8; ++j)
          q4_k_scale_min(blocks[s].scales, j, head + 64 + j * kPackedRows + r, head + 192 + j * kPackedRows + r);
        // Chunk k: qs[32k, 32k + 32), its 8 dwords 16 rows apart.
        uint8_t* q = group + q_offset + s * layout_of(DType::Q4_K).q;
        for (int k = 0; k < 4; ++k)
          for (int d = 0; d < 8; ++d) std::memcpy(q + ((k * 8 + d) * kPackedRows + r) * 4, blocks[s].qs + 32 * k + 4 * d, 4);
      }
    }
  }
}

// Q6_K: per super-block, d (f16) then the 16 sub-block scales (int8 [sub-block][row]); its
// q bytes in two halves of 1536: ql chunks 2h and 2h + 1 (32 bytes each) then qh[32h, 32h + 32),
// each as dwords 16 rows apart.
void pack_q6_k(const WeightMatrix& w, uint8_t* out) {
  const int64_t n_super = w.cols / kQK_K;
  const GroupLayout layout = layout_of(DType::Q6_K);
  const size_t group_bytes = packed_group_bytes(w.dtype, w.cols), q_offset = packed_q_offset(w.dtype, w.cols);
  for (int64_t g = 0; g < w.rows / kPackedRows; ++g) {
    uint8_t* group = out + static_cast<size_t>(g) * group_bytes;
    std::memset(group, 0, q_offset);  // the padding after the scales
    for (int r = 0; r < kPackedRows; ++r) {
      const auto* blocks = reinterpret_cast<const BlockQ6_K*>(w.row(g * kPackedRows + r));
      for (int64_t s = 0; s < n_super; ++s) {
        uint8_t* head = group + s * layout.head;
        std::memcpy(head + 2 * r, &blocks[s].d, 2);
        for (int j = 0; j < 16; ++j) head[32 + j * kPackedRows + r] = static_cast<uint8_t>(blocks[s].scales[j]);
        for (int half = 0; half < 2; ++half) {
          uint8_t* q = group + q_offset + s * layout.q + half * 1536;
          const uint8_t* sources[3] = {blocks[s].ql + 64 * half, blocks[s].ql + 64 * half + 32, blocks[s].qh + 32 * half};
          for (int part = 0; part < 3; ++part)
            for (int d = 0; d < 8; ++d) std::memcpy(q + part * 512 + (d * kPackedRows + r) * 4, sources[part] + 4 * d, 4);
        }
      }
    }
  }
}

}  // namespace

size_t packed_q_offset(DType dtype, int64_t cols) {
  const GroupLayout l = layout_of(dtype);
  return l.unit_cols == 0 ? 0 : round_up_64(static_cast<size_t>(cols / l.unit_cols) * l.head);
}

size_t packed_group_bytes(DType dtype, int64_t cols) {
  const GroupLayout l = layout_of(dtype);
  return l.unit_cols == 0 ? 0 : packed_q_offset(dtype, cols) + static_cast<size_t>(cols / l.unit_cols) * l.q;
}

size_t packed_bytes(const WeightMatrix& w) {
  if (w.rows <= 0 || w.rows % kPackedRows != 0 || w.cols <= 0 || w.cols % dtype_info(w.dtype).block_size != 0) return 0;
  if (!matmul_reads_packed_weights(w.dtype) || repack_disabled()) return 0;
  return static_cast<size_t>(w.rows / kPackedRows) * packed_group_bytes(w.dtype, w.cols);
}

void pack_weights(const WeightMatrix& w, uint8_t* out) {
  require(w.rows % kPackedRows == 0, "internal: pack_weights on rows that are not whole groups");
  switch (w.dtype) {
    case DType::Q4_0: pack_groups<BlockQ4_0>(w, out); break;
    case DType::Q8_0: pack_groups<BlockQ8_0>(w, out); break;
    case DType::Q4_K: pack_q4_k(w, out); break;
    case DType::Q6_K: pack_q6_k(w, out); break;
    default: fail("internal: pack_weights has no packed layout for ", dtype_name(w.dtype));
  }
}

}  // namespace facet
