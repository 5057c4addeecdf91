// Weights packed at load for the CPU's kernels (kernels/packed_weights.h, model/weight_packing.h):
// the layout holds exactly the file's weights, and matmul() and the whole forward pass give the
// same bits from the packed copy as from the file's layout, for every token count and thread
// split, on every SIMD target this CPU runs (targets without a packed path ignore the copy).
#include "kernels/packed_weights.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/matmul_simd.h"
#include "model/forward.h"
#include "model/quantize_model.h"
#include "model/weight_packing.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "tensor/convert.h"
#include "tensor/quant_blocks.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

struct Q4_0Matrix {
  std::vector<uint8_t> bytes;
  WeightMatrix w;
};

Q4_0Matrix random_q4_0(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> values(static_cast<size_t>(cols));
  Q4_0Matrix m;
  const size_t row_bytes = dtype_row_bytes(DType::Q4_0, cols);
  m.bytes.resize(row_bytes * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : values) v = dist(rng);
    row_from_f32(DType::Q4_0, values.data(), m.bytes.data() + static_cast<size_t>(r) * row_bytes, cols);
  }
  m.w = {DType::Q4_0, m.bytes.data(), rows, cols};
  return m;
}

// 64-byte aligned storage for a packed copy.
struct PackedCopy {
  std::vector<uint8_t> storage;
  uint8_t* at = nullptr;
  explicit PackedCopy(const WeightMatrix& w) {
    const size_t bytes = static_cast<size_t>(w.rows / kPackedRows) * packed_group_bytes(w.dtype, w.cols);
    storage.resize(bytes + 64);
    at = storage.data() + (64 - reinterpret_cast<uintptr_t>(storage.data()) % 64) % 64;
    pack_weights(w, at);
  }
};

std::vector<float> activations(int64_t tokens, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(tokens * cols));
  for (size_t i = 0; i < x.size(); ++i) x[i] = dist(rng) * (1.0f + static_cast<float>((i / 32) % 5)) + (i % 97 == 0 ? 8.0f : 0.0f);
  return x;
}

// The documented layout, read back element by element: every weight and scale of the file is
// where packed_weights.h says.
TEST(PackedWeights, Q4_0LayoutHoldsTheFilesWeights) {
  for (int64_t cols : {32, 11 * 32, 48 * 32}) {  // 11 blocks: the scales' padding to 64 bytes
    Q4_0Matrix m = random_q4_0(48, cols, static_cast<uint32_t>(cols));
    PackedCopy packed(m.w);
    const int64_t n_blocks = cols / 32;
    const size_t group_bytes = packed_group_bytes(DType::Q4_0, cols), q_offset = packed_q_offset(DType::Q4_0, cols);
    EXPECT_EQ(group_bytes % 64, 0u);
    EXPECT_EQ(q_offset, (static_cast<size_t>(n_blocks) * 32 + 63) / 64 * 64);
    for (int64_t r = 0; r < m.w.rows; ++r) {
      const auto* blocks = reinterpret_cast<const BlockQ4_0*>(m.w.row(r));
      const uint8_t* group = packed.at + static_cast<size_t>(r / 16) * group_bytes;
      for (int64_t b = 0; b < n_blocks; ++b) {
        uint16_t d;
        std::memcpy(&d, group + (b * 16 + r % 16) * 2, 2);
        ASSERT_EQ(d, blocks[b].d) << "row " << r << " block " << b;
        for (int i = 0; i < 32; ++i) {
          // Element i: dword (i % 16) / 4, byte i % 4, low nibble for i < 16.
          const uint8_t byte = group[q_offset + ((b * 4 + (i % 16) / 4) * 16 + r % 16) * 4 + i % 4];
          const int q = i < 16 ? byte & 0xF : byte >> 4;
          const int want = i < 16 ? blocks[b].qs[i] & 0xF : blocks[b].qs[i - 16] >> 4;
          ASSERT_EQ(q, want) << "row " << r << " block " << b << " element " << i;
        }
      }
    }
  }
}

// matmul() from the packed copy against matmul() from the file's layout, bit for bit. The
// latter is checked against float64 references in kernel_matmul_test.
TEST(PackedWeights, MatmulGivesTheFileLayoutsBits) {
  const bool cpu_packs = matmul_reads_packed_weights(DType::Q4_0);
  ThreadPool two(2), seven(7);
  for (const int64_t cols : {11 * 32, 48 * 32}) {
    Q4_0Matrix m = random_q4_0(96, cols, 7 + static_cast<uint32_t>(cols));
    PackedCopy packed(m.w);
    WeightMatrix with = m.w;
    with.packed = packed.at;
    if (cpu_packs) {
      EXPECT_EQ(packed_bytes(m.w), packed.storage.size() - 64);
    }
    for (int64_t target : matmul_simd_targets()) {
      hwy::SetSupportedTargetsForTest(target);
      SCOPED_TRACE(hwy::TargetName(target));
      for (int64_t tokens : {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 17, 64}) {
        const std::vector<float> x = activations(tokens, cols, static_cast<uint32_t>(tokens));
        for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two, &seven}) {
          std::vector<float> plain(static_cast<size_t>(tokens * m.w.rows), NAN), fast(plain.size(), NAN);
          matmul(m.w, x.data(), tokens, plain.data(), pool);
          matmul(with, x.data(), tokens, fast.data(), pool);
          for (size_t i = 0; i < plain.size(); ++i)
            ASSERT_EQ(plain[i], fast[i]) << cols << " columns, " << tokens << " tokens, at " << i;
        }
        // Row slices of whole groups keep their packed rows; others fall back to the file.
        for (auto [first, count] : {std::pair<int64_t, int64_t>{16, 48}, {8, 32}, {32, 20}}) {
          const WeightMatrix a = m.w.slice_rows(first, count), b = with.slice_rows(first, count);
          EXPECT_EQ(b.packed != nullptr, first % 16 == 0 && count % 16 == 0);
          std::vector<float> plain(static_cast<size_t>(tokens * count), NAN), fast(plain.size(), NAN);
          matmul(a, x.data(), tokens, plain.data(), &two);
          matmul(b, x.data(), tokens, fast.data(), &two);
          for (size_t i = 0; i < plain.size(); ++i) ASSERT_EQ(plain[i], fast[i]) << "slice at " << first << ", " << i;
        }
      }
    }
    hwy::SetSupportedTargetsForTest(0);
  }
  if (!cpu_packs) GTEST_SKIP() << "this CPU's kernels have no packed path (compared on the other targets only)";
}

TEST(PackedWeights, OnlyWholeGroupsOfPackableTypesArePacked) {
  if (!matmul_reads_packed_weights(DType::Q4_0)) GTEST_SKIP() << "this CPU's kernels have no packed path";
  EXPECT_GT(packed_bytes(random_q4_0(32, 64, 1).w), 0u);
  EXPECT_EQ(packed_bytes(random_q4_0(24, 64, 1).w), 0u) << "24 rows are not whole groups of 16";
  std::vector<uint8_t> q8(dtype_row_bytes(DType::Q8_0, 64) * 32);
  EXPECT_EQ(packed_bytes(WeightMatrix{DType::Q8_0, q8.data(), 32, 64}), 0u);
  ::setenv("FACET_NO_REPACK", "1", 1);
  EXPECT_EQ(packed_bytes(random_q4_0(32, 64, 1).w), 0u) << "FACET_NO_REPACK=1";
  ::unsetenv("FACET_NO_REPACK");
}

// A Q4_0 copy of a shared tiny model: logits of a prompt and of token-by-token decoding are the
// same bits with the packed copy (load_model_for_inference) as from the file (load_model).
TEST(PackedWeights, ForwardPassGivesTheFileLayoutsBits) {
  test::TempDir dir;
  const std::string path = dir.file("q4_0.gguf");
  quantize_model(test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf", path, QuantScheme::Q4_0, 2);
  auto plain = load_model(path);
  auto packed = load_model_for_inference(path);
  if (matmul_reads_packed_weights(DType::Q4_0)) {
    ASSERT_NE(packed->packed_weights, nullptr);
    EXPECT_NE(packed->weights.layers[0].gate.packed, nullptr);
  }
  const std::vector<int32_t> prompt = {2, 17, 9, 33, 4, 41, 5, 12, 7};
  ThreadPool pool(2);
  for (bool by_token : {false, true}) {
    KvCache a(plain->config, 64), b(packed->config, 64);
    const size_t steps = by_token ? prompt.size() : 1;
    for (size_t s = 0; s < steps; ++s) {
      const std::vector<int32_t> part = by_token ? std::vector<int32_t>{prompt[s]} : prompt;
      const auto want = forward(*plain, a, part, LogitsFor::AllTokens, pool);
      const auto got = forward(*packed, b, part, LogitsFor::AllTokens, pool);
      ASSERT_EQ(want.size(), got.size());
      for (size_t i = 0; i < want.size(); ++i) ASSERT_EQ(want[i], got[i]) << (by_token ? "token " : "prompt ") << s << " at " << i;
    }
  }
  if (packed->packed_weights == nullptr) GTEST_SKIP() << "nothing packed on this CPU (compared the file layout with itself)";
}

}  // namespace
}  // namespace facet
