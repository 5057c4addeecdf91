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
#include <memory>
#include <random>
#include <vector>

#include "kernels/matmul_simd.h"
#include "model/forward.h"
#include "model/quantize_model.h"
#include "model/random_model.h"
#include "model/weight_packing.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "tensor/convert.h"
#include "tensor/quant_blocks.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

struct QuantMatrix {
  std::vector<uint8_t> bytes;
  WeightMatrix w;
};

QuantMatrix random_matrix(DType dtype, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> values(static_cast<size_t>(cols));
  QuantMatrix m;
  const size_t row_bytes = dtype_row_bytes(dtype, cols);
  m.bytes.resize(row_bytes * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : values) v = dist(rng);
    row_from_f32(dtype, values.data(), m.bytes.data() + static_cast<size_t>(r) * row_bytes, cols);
  }
  m.w = {dtype, m.bytes.data(), rows, cols};
  return m;
}

// Weight i (0..31) of a block as the file stores it, and where packed_weights.h puts its byte:
// dword (i % 16) / 4 (Q4_0: high nibble from i = 16 on) or i / 4 (Q8_0), byte i % 4.
//
// Q4_K (super-blocks of 256 in 8 sub-blocks j): weight i of sub-block j is nibble (j odd: high)
// of qs[32 (j / 2) + i]; packed, dword i / 4 of chunk j / 2, byte i % 4.
int file_weight(DType dtype, const uint8_t* block, int i) {
  if (dtype == DType::Q8_0) return static_cast<int8_t>(reinterpret_cast<const BlockQ8_0*>(block)->qs[i]);
  const uint8_t* qs = reinterpret_cast<const BlockQ4_0*>(block)->qs;
  return i < 16 ? qs[i] & 0xF : qs[i - 16] >> 4;
}
int q4_k_file_weight(const BlockQ4_K& blk, int j, int i) {
  const uint8_t byte = blk.qs[32 * (j / 2) + i];
  return j % 2 ? byte >> 4 : byte & 0xF;
}
int q4_k_packed_weight(const uint8_t* q, int64_t super, int j, int r, int i) {
  const uint8_t byte = q[super * 2048 + (((j / 2) * 8 + i / 4) * 16 + r) * 4 + i % 4];
  return j % 2 ? byte >> 4 : byte & 0xF;
}
int packed_weight(DType dtype, const uint8_t* q, int64_t b, int r, int i) {
  if (dtype == DType::Q8_0) return static_cast<int8_t>(q[((b * 8 + i / 4) * 16 + r) * 4 + i % 4]);
  const uint8_t byte = q[((b * 4 + (i % 16) / 4) * 16 + r) * 4 + i % 4];
  return i < 16 ? byte & 0xF : byte >> 4;
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
TEST(PackedWeights, LayoutHoldsTheFilesWeights) {
  for (DType dtype : {DType::Q4_0, DType::Q8_0})
    for (int64_t cols : {32, 11 * 32, 48 * 32}) {  // 11 blocks: the scales' padding to 64 bytes
      QuantMatrix m = random_matrix(dtype, 48, cols, static_cast<uint32_t>(cols));
      PackedCopy packed(m.w);
      const int64_t n_blocks = cols / 32;
      const size_t block_bytes = dtype_row_bytes(dtype, 32);
      const size_t group_bytes = packed_group_bytes(dtype, cols), q_offset = packed_q_offset(dtype, cols);
      EXPECT_EQ(group_bytes % 64, 0u);
      EXPECT_EQ(q_offset, (static_cast<size_t>(n_blocks) * 32 + 63) / 64 * 64);
      EXPECT_EQ(group_bytes, q_offset + 16 * (block_bytes - 2) * static_cast<size_t>(n_blocks));
      for (int64_t r = 0; r < m.w.rows; ++r) {
        const uint8_t* group = packed.at + static_cast<size_t>(r / 16) * group_bytes;
        for (int64_t b = 0; b < n_blocks; ++b) {
          const uint8_t* block = m.w.row(r) + b * block_bytes;
          uint16_t d, want_d;
          std::memcpy(&d, group + (b * 16 + r % 16) * 2, 2);
          std::memcpy(&want_d, block, 2);  // both block types start with their f16 scale
          ASSERT_EQ(d, want_d) << dtype_name(dtype) << " row " << r << " block " << b;
          for (int i = 0; i < 32; ++i)
            ASSERT_EQ(packed_weight(dtype, group + q_offset, b, static_cast<int>(r % 16), i), file_weight(dtype, block, i))
                << dtype_name(dtype) << " row " << r << " block " << b << " element " << i;
        }
      }
    }
}

TEST(PackedWeights, Q4_KLayoutHoldsTheFilesWeights) {
  for (int64_t cols : {256, 3 * 256}) {
    QuantMatrix m = random_matrix(DType::Q4_K, 32, cols, static_cast<uint32_t>(cols));
    PackedCopy packed(m.w);
    const int64_t n_super = cols / 256;
    const size_t group_bytes = packed_group_bytes(DType::Q4_K, cols), q_offset = packed_q_offset(DType::Q4_K, cols);
    EXPECT_EQ(q_offset, 320u * static_cast<size_t>(n_super));
    EXPECT_EQ(group_bytes, q_offset + 2048u * static_cast<size_t>(n_super));
    for (int64_t r = 0; r < m.w.rows; ++r) {
      const uint8_t* group = packed.at + static_cast<size_t>(r / 16) * group_bytes;
      const int lane = static_cast<int>(r % 16);
      const auto* blocks = reinterpret_cast<const BlockQ4_K*>(m.w.row(r));
      for (int64_t s = 0; s < n_super; ++s) {
        const uint8_t* head = group + s * 320;
        uint16_t d, dmin;
        std::memcpy(&d, head + 2 * lane, 2);
        std::memcpy(&dmin, head + 32 + 2 * lane, 2);
        ASSERT_EQ(d, blocks[s].d);
        ASSERT_EQ(dmin, blocks[s].dmin);
        for (int j = 0; j < 8; ++j) {
          uint8_t sc, mn;
          q4_k_scale_min(blocks[s].scales, j, &sc, &mn);
          ASSERT_EQ(head[64 + 16 * j + lane], sc) << "row " << r << " super-block " << s << " sub-block " << j;
          ASSERT_EQ(head[192 + 16 * j + lane], mn) << "row " << r << " super-block " << s << " sub-block " << j;
          for (int i = 0; i < 32; ++i)
            ASSERT_EQ(q4_k_packed_weight(group + q_offset, s, j, lane, i), q4_k_file_weight(blocks[s], j, i))
                << "row " << r << " super-block " << s << " sub-block " << j << " element " << i;
        }
      }
    }
  }
}

// Q6_K: weight i of the kernels' 32-column block j = 4h + k is 6 bits: a nibble of
// ql[64h + 32 (k % 2) + i] (high for k >= 2) and bits 2k, 2k + 1 of qh[32h + i]. Packed, both come
// from dword i / 4 (byte i % 4) of half h's parts k % 2 and 2.
int q6_k_file_weight(const BlockQ6_K& blk, int j, int i) {
  const int h = j / 4, k = j % 4;
  const uint8_t low = blk.ql[64 * h + 32 * (k % 2) + i];
  return (k < 2 ? low & 0xF : low >> 4) | (((blk.qh[32 * h + i] >> (2 * k)) & 3) << 4);
}
int q6_k_packed_weight(const uint8_t* q, int64_t super, int j, int r, int i) {
  const int h = j / 4, k = j % 4;
  const uint8_t* half = q + super * 3072 + h * 1536;
  const size_t at = static_cast<size_t>(((i / 4) * 16 + r) * 4 + i % 4);
  const uint8_t low = half[512 * (k % 2) + at], high = half[1024 + at];
  return (k < 2 ? low & 0xF : low >> 4) | (((high >> (2 * k)) & 3) << 4);
}

TEST(PackedWeights, Q6_KLayoutHoldsTheFilesWeights) {
  for (int64_t cols : {256, 3 * 256}) {
    QuantMatrix m = random_matrix(DType::Q6_K, 32, cols, static_cast<uint32_t>(cols));
    PackedCopy packed(m.w);
    const int64_t n_super = cols / 256;
    const size_t group_bytes = packed_group_bytes(DType::Q6_K, cols), q_offset = packed_q_offset(DType::Q6_K, cols);
    EXPECT_EQ(q_offset, (288u * static_cast<size_t>(n_super) + 63) / 64 * 64);
    EXPECT_EQ(group_bytes, q_offset + 3072u * static_cast<size_t>(n_super));
    for (int64_t r = 0; r < m.w.rows; ++r) {
      const uint8_t* group = packed.at + static_cast<size_t>(r / 16) * group_bytes;
      const int lane = static_cast<int>(r % 16);
      const auto* blocks = reinterpret_cast<const BlockQ6_K*>(m.w.row(r));
      for (int64_t s = 0; s < n_super; ++s) {
        const uint8_t* head = group + s * 288;
        uint16_t d;
        std::memcpy(&d, head + 2 * lane, 2);
        ASSERT_EQ(d, blocks[s].d);
        for (int sub = 0; sub < 16; ++sub)
          ASSERT_EQ(static_cast<int8_t>(head[32 + 16 * sub + lane]), blocks[s].scales[sub]) << "row " << r << " scale " << sub;
        for (int j = 0; j < 8; ++j)
          for (int i = 0; i < 32; ++i)
            ASSERT_EQ(q6_k_packed_weight(group + q_offset, s, j, lane, i), q6_k_file_weight(blocks[s], j, i))
                << "row " << r << " super-block " << s << " block " << j << " element " << i;
      }
    }
  }
}

// matmul() from the packed copy against matmul() from the file's layout, bit for bit. The
// latter is checked against float64 references in kernel_matmul_test.
class PackedMatmul : public ::testing::TestWithParam<DType> {};

TEST_P(PackedMatmul, GivesTheFileLayoutsBits) {
  const DType dtype = GetParam();
  const bool cpu_packs = matmul_reads_packed_weights(dtype);
  ThreadPool two(2), seven(7);
  const bool k_quant = dtype == DType::Q4_K || dtype == DType::Q6_K;
  for (const int64_t cols : {k_quant ? 256 : 11 * 32, k_quant ? 6 * 256 : 48 * 32}) {
    QuantMatrix m = random_matrix(dtype, 96, cols, 7 + static_cast<uint32_t>(cols));
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
            ASSERT_EQ(plain[i], fast[i]) << dtype_name(dtype) << " " << cols << " columns, " << tokens << " tokens, at " << i;
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

INSTANTIATE_TEST_SUITE_P(Types, PackedMatmul, ::testing::Values(DType::Q4_0, DType::Q8_0, DType::Q4_K, DType::Q6_K),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// matmul_same_input (q/k/v and gate/up of a layer in one parallel loop) against matmul() on
// each product alone, bit for bit: same-type groups, Q4_K_M's mixed Q4_K/Q6_K, float types,
// a float/quantized mix (which runs one by one), packed and file layouts, rows that are not
// whole groups of 16, every token count of decode and speculative checks, every SIMD target.
TEST(MatmulSameInput, GivesEachProductTheBitsOfItsOwnMatmul) {
  ThreadPool two(2), seven(7);
  const std::vector<std::vector<DType>> combos = {{DType::Q4_0, DType::Q4_0, DType::Q4_0},
                                                  {DType::Q4_K, DType::Q6_K, DType::Q4_K},
                                                  {DType::Q8_0, DType::Q8_0},
                                                  {DType::F16, DType::F16},
                                                  {DType::BF16, DType::F32},
                                                  {DType::Q4_0, DType::F16}};
  constexpr int64_t cols = 512;
  for (const std::vector<DType>& types : combos)
    for (const bool pack : {false, true}) {
      // Packed copies need whole groups of 16 rows; the file layout gets ragged row counts.
      const int64_t rows[3] = {pack ? 48 : 40, pack ? 80 : 24, pack ? 32 : 8};
      std::vector<QuantMatrix> mats;
      std::vector<std::unique_ptr<PackedCopy>> copies;
      for (size_t i = 0; i < types.size(); ++i) mats.push_back(random_matrix(types[i], rows[i], cols, 31 + static_cast<uint32_t>(i)));
      std::vector<WeightMatrix> ws;
      for (QuantMatrix& m : mats) {
        ws.push_back(m.w);
        if (pack && matmul_reads_packed_weights(m.w.dtype) && packed_bytes(m.w) > 0) {
          copies.push_back(std::make_unique<PackedCopy>(m.w));
          ws.back().packed = copies.back()->at;
        }
      }
      for (int64_t target : matmul_simd_targets()) {
        hwy::SetSupportedTargetsForTest(target);
        for (int64_t tokens : {1, 2, 3, 5, 17}) {
          const std::vector<float> x = activations(tokens, cols, 5 + static_cast<uint32_t>(tokens));
          for (ThreadPool* pool : {static_cast<ThreadPool*>(nullptr), &two, &seven}) {
            std::vector<std::vector<float>> got(ws.size()), want(ws.size());
            std::vector<MatmulOutput> products;
            for (size_t i = 0; i < ws.size(); ++i) {
              got[i].assign(static_cast<size_t>(tokens * ws[i].rows), NAN);
              want[i].assign(got[i].size(), NAN);
              matmul(ws[i], x.data(), tokens, want[i].data(), pool);
              products.push_back({&ws[i], got[i].data()});
            }
            matmul_same_input(products, x.data(), tokens, pool);
            for (size_t i = 0; i < ws.size(); ++i)
              for (size_t e = 0; e < got[i].size(); ++e)
                ASSERT_EQ(got[i][e], want[i][e]) << hwy::TargetName(target) << ", product " << i << " ("
                                                 << dtype_name(ws[i].dtype) << (pack ? ", packed" : "") << "), "
                                                 << tokens << " tokens, element " << e;
          }
        }
      }
      hwy::SetSupportedTargetsForTest(0);
    }
}

TEST(PackedWeights, OnlyWholeGroupsOfPackableTypesArePacked) {
  if (!matmul_reads_packed_weights(DType::Q4_0)) GTEST_SKIP() << "this CPU's kernels have no packed path";
  EXPECT_GT(packed_bytes(random_matrix(DType::Q4_0, 32, 64, 1).w), 0u);
  EXPECT_EQ(packed_bytes(random_matrix(DType::Q4_0, 24, 64, 1).w), 0u) << "24 rows are not whole groups of 16";
  EXPECT_EQ(packed_bytes(random_matrix(DType::BF16, 32, 256, 1).w), 0u) << "BF16 has no packed layout";
  ::setenv("FACET_NO_REPACK", "1", 1);
  EXPECT_EQ(packed_bytes(random_matrix(DType::Q8_0, 32, 64, 1).w), 0u) << "FACET_NO_REPACK=1";
  ::unsetenv("FACET_NO_REPACK");
}

// Q4_0 and Q8_0 copies of a shared tiny model (Q4_0's head is Q8_0), and a Q4_K_M copy of a
// generated model with 256-wide rows (Q4_K and Q6_K matrices, MoE experts): logits of a prompt
// and of token-by-token decoding are the same bits with the packed copy
// (load_model_for_inference) as from the file (load_model).
class PackedModel : public ::testing::TestWithParam<QuantScheme> {};

TEST_P(PackedModel, ForwardPassGivesTheFileLayoutsBits) {
  test::TempDir dir;
  const std::string path = dir.file("quantized.gguf");
  std::string source = test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf";
  if (GetParam() == QuantScheme::Q4_K_M) {
    GeneratorOptions options;
    options.seed = 11;
    options.threads = 2;
    source = dir.file("f32.gguf");
    write_random_gguf(ModelConfig::from_hf_file(test::source_dir() + "/models/configs/tiny-k256.json"), options, source);
  }
  quantize_model(source, path, GetParam(), 2);
  auto plain = load_model(path);
  auto packed = load_model_for_inference(path);
  const DType gate_type = packed->weights.layers[1].gate.dtype;
  if (matmul_reads_packed_weights(gate_type)) {
    ASSERT_NE(packed->packed_weights, nullptr);
    EXPECT_NE(packed->weights.layers[1].gate.packed, nullptr) << dtype_name(gate_type);
    const DType head_type = packed->weights.token_embd.dtype;
    EXPECT_EQ(packed->weights.token_embd_packed != nullptr, matmul_reads_packed_weights(head_type)) << "the output head";
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

INSTANTIATE_TEST_SUITE_P(Schemes, PackedModel, ::testing::Values(QuantScheme::Q4_0, QuantScheme::Q8_0, QuantScheme::Q4_K_M),
                         [](const auto& info) { return quant_scheme_name(info.param); });

}  // namespace
}  // namespace facet
