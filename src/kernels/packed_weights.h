// Weights re-laid once at load time for the CPU's fastest kernels ("repacking", as llama.cpp
// calls its equivalent), so that neither a decode step nor a prompt nor a speculative check
// pass rearranges them per call.
//
// Layout (Q4_0 and Q8_0, used by the AVX-512 VNNI kernels): the rows in groups of
// kPackedRows = 16; a group is
//   scales: [block][row] the blocks' f16 scales        (32 bytes a block; all of them, padded to 64)
//   q:      [block][dword s][row] the blocks' qs bytes  (Q4_0: 4 dwords, 256 bytes a block;
//                                                        Q8_0: 8 dwords, 512 bytes)
// where dword s of a row's block is its bytes qs[4s, 4s + 4), exactly as in the file: Q8_0's
// signed weights 4s..4s+3; Q4_0's low nibbles of elements 4s..4s+3 and high nibbles of
// elements 16 + 4s..16 + 4s + 3. So a group takes as many bytes as its 16 rows do in the file,
// and one 64-byte load gives one dword of 16 rows: the 16 lanes of a vpdpbusd. Each group is
// one sequential stream for the hardware prefetcher.
//
// Q4_K: a group is, per super-block of 256 columns, d then dmin (f16, [row]) and the 8
// sub-blocks' 6-bit sc then m (a byte each, [sub-block][row]): 320 bytes; after all of those,
// per super-block, its qs in 4 chunks of 32 bytes as dwords ([chunk k][dword s][row], 2048
// bytes): dword s of chunk k holds step s of sub-block 2k (low nibbles) and of 2k + 1 (high).
// 2368 bytes a super-block of 16 rows, 3% more than the file's 2304.
//
// Q6_K: a group is, per super-block, d (f16 [row]) and the 16 int8 sub-block scales
// ([sub-block][row]): 288 bytes; after all of those, per super-block, its 6-bit weights in two
// halves of 1536 bytes, each the file's ql[64h, 64h + 32), ql[64h + 32, 64h + 64) and
// qh[32h, 32h + 32) as dwords ([part][dword s][row]): the kernels' 32-column block 4h + k (k = 0..3)
// takes step s's low 4 bits from part k % 2 (low nibbles for k < 2, high for k >= 2) and its top 2
// bits from bits 2k, 2k + 1 of part 2. 3360 bytes a super-block of 16 rows, as in the file.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/matmul.h"

namespace facet {

inline constexpr int64_t kPackedRows = 16;

// Bytes of one group of kPackedRows rows of `cols` columns in the packed layout of `dtype`
// (0: the type has none).
size_t packed_group_bytes(DType dtype, int64_t cols);
// Offset of a group's q part (after its scales).
size_t packed_q_offset(DType dtype, int64_t cols);

// Bytes `w` needs in the packed layout, or 0 where it is not packed: the dispatched kernels
// have no packed path for its type, its rows are not whole groups, or FACET_NO_REPACK=1
// (for comparisons; results are the same bits either way).
size_t packed_bytes(const WeightMatrix& w);

// Writes w's packed layout (packed_bytes(w) bytes, 64-byte aligned) to `out`.
void pack_weights(const WeightMatrix& w, uint8_t* out);

}  // namespace facet
