// matmul() for every weight type against scalar references, on awkward shapes, for every
// SIMD target this build and CPU can run.
//
// Float weights: against matmul_reference (weights converted exactly, double dot), within
// f32 accumulation error. Quantized weights use 8-bit activations, so two checks:
//  1. against a double dot of the dequantized weights with activations quantized in the
//     test (scale = max|x| / 127 per block of 32, round to nearest): only f32 accumulation
//     error remains, so this pins down the kernel's integer arithmetic exactly;
//  2. against matmul_reference on the original activations: the difference is bounded by
//     Σ_blocks (max|x_block| / 254) Σ_block |w| (each activation moves by at most half a step).
#include <gtest/gtest.h>

#include <hwy/targets.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/amx_support.h"
#include "kernels/matmul.h"
#include "kernels/matmul_simd.h"
#include "tensor/convert.h"
#include "tensor/quant_blocks.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

struct Shape {
  int64_t rows, cols, tokens;
};

struct Case {
  std::vector<uint8_t> weights;
  WeightMatrix w;
  std::vector<float> x;
  std::vector<float> w_f32;  // the weights as stored, dequantized
};

Case make_case(DType dtype, Shape s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Case c;
  std::vector<float> values(static_cast<size_t>(s.rows * s.cols));
  for (float& v : values) v = dist(rng) * 0.05f;
  // Weights: storage padded so F32 rows start aligned; the kernels get the bytes as a file would.
  const size_t row_bytes = dtype_row_bytes(dtype, s.cols);
  c.weights.resize(row_bytes * static_cast<size_t>(s.rows) + 64);
  for (int64_t r = 0; r < s.rows; ++r)
    row_from_f32(dtype, values.data() + r * s.cols, c.weights.data() + static_cast<size_t>(r) * row_bytes, s.cols);
  c.w = {dtype, c.weights.data(), s.rows, s.cols};
  c.w_f32.resize(values.size());
  for (int64_t r = 0; r < s.rows; ++r) row_to_f32(dtype, c.w.row(r), c.w_f32.data() + r * s.cols, s.cols);
  c.x.resize(static_cast<size_t>(s.tokens * s.cols));
  // Activations with a spread of block magnitudes and a few outliers, as hidden states have.
  for (size_t i = 0; i < c.x.size(); ++i) c.x[i] = dist(rng) * (1.0f + static_cast<float>((i / 32) % 5)) + (i % 97 == 0 ? 8.0f : 0.0f);
  return c;
}

// x quantized per block of 32 to 8 bits and back, computed here independently of the kernels.
std::vector<double> quantized_activations(const std::vector<float>& x) {
  std::vector<double> out(x.size());
  for (size_t b = 0; b < x.size() / 32; ++b) {
    double amax = 0;
    for (size_t i = 32 * b; i < 32 * b + 32; ++i) amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
    const float scale = static_cast<float>(amax) / 127.0f;
    for (size_t i = 32 * b; i < 32 * b + 32; ++i)
      out[i] = amax == 0 ? 0.0 : static_cast<double>(scale) * std::round(x[i] * (127.0f / static_cast<float>(amax)));
  }
  return out;
}

// The product under test: matmul() itself, or (byte_kernels) the x86 byte-product kernels
// forced for every quantized type. Returns false where the latter don't exist.
bool product(bool byte_kernels, const WeightMatrix& w, const float* x, int64_t n, float* y, ThreadPool* pool) {
  if (byte_kernels) return matmul_quantized_bytes_for_test(w, x, n, y);
  matmul(w, x, n, y, pool);
  return true;
}

void check(DType dtype, Shape s, ThreadPool* pool, bool byte_kernels = false) {
  Case c = make_case(dtype, s, static_cast<uint32_t>(s.rows * 131 + s.cols * 7 + s.tokens));
  std::vector<float> got(static_cast<size_t>(s.rows * s.tokens), NAN), ref(got.size());
  if (!product(byte_kernels, c.w, c.x.data(), s.tokens, got.data(), pool)) return;
  matmul_reference(c.w, c.x.data(), s.tokens, ref.data());
  // A token's result doesn't depend on how many tokens share the call (decode kernels and
  // batched kernels do the same arithmetic), so batch and token-by-token logits agree.
  for (int64_t t = 0; t < s.tokens; ++t) {
    std::vector<float> one(static_cast<size_t>(s.rows));
    product(byte_kernels, c.w, c.x.data() + t * s.cols, 1, one.data(), pool);
    for (int64_t r = 0; r < s.rows; ++r)
      ASSERT_EQ(one[static_cast<size_t>(r)], got[static_cast<size_t>(t * s.rows + r)])
          << dtype_name(dtype) << " token " << t << " row " << r << " of " << s.tokens;
  }
  const bool quantized = is_block_quantized(dtype);  // 8-bit activations (not NF4: f32 ones)
  const std::vector<double> xq = quantized ? quantized_activations(c.x) : std::vector<double>();
  for (int64_t t = 0; t < s.tokens; ++t) {
    for (int64_t r = 0; r < s.rows; ++r) {
      const float* w = c.w_f32.data() + r * s.cols;
      const float* x = c.x.data() + t * s.cols;
      double magnitude = 0, act_bound = 0, exact_q = 0;
      for (int64_t b = 0; 32 * b < s.cols; ++b) {
        double amax = 0, wsum = 0;
        for (int64_t i = 32 * b; i < std::min(s.cols, 32 * b + 32); ++i) {
          amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
          wsum += std::fabs(w[i]);
          magnitude += std::fabs(static_cast<double>(w[i]) * x[i]);
          if (quantized) exact_q += static_cast<double>(w[i]) * xq[static_cast<size_t>(t * s.cols + i)];
        }
        act_bound += amax / 254.0 * wsum;
      }
      const float y = got[static_cast<size_t>(t * s.rows + r)];
      const double rounding = 1e-5 * magnitude + 1e-6;  // f32 accumulation
      const std::string where = std::string(dtype_name(dtype)) + " " + std::to_string(s.rows) + "x" +
                                std::to_string(s.cols) + " tokens " + std::to_string(s.tokens) + " at t=" +
                                std::to_string(t) + " r=" + std::to_string(r);
      if (quantized) {
        ASSERT_NEAR(y, exact_q, rounding) << where << " (vs the test's quantized activations)";
        ASSERT_NEAR(y, ref[static_cast<size_t>(t * s.rows + r)], act_bound + rounding) << where;
      } else {
        ASSERT_NEAR(y, ref[static_cast<size_t>(t * s.rows + r)], rounding) << where;
      }
    }
  }
}

// Each SIMD target the build has and this CPU runs (the portable baseline included).
template <typename F>
void for_each_target(F&& body) {
  for (int64_t target : matmul_simd_targets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    ASSERT_STREQ(matmul_simd_target(), hwy::TargetName(target));
    body();
  }
  hwy::SetSupportedTargetsForTest(0);
}

class KernelMatmul : public ::testing::TestWithParam<DType> {};

TEST_P(KernelMatmul, MatchesScalarReferenceOnAwkwardShapes) {
  const DType dtype = GetParam();
  const int64_t block = std::max<int64_t>(32, dtype_info(dtype).block_size);
  // Float types also get row lengths that leave a SIMD tail.
  const int64_t odd = dtype_info(dtype).block_size == 1 ? 13 : 0;
  const std::vector<Shape> shapes = {
      {1, block, 1},               // one row, one block
      {7, block, 5},               // rows and tokens not multiples of any tile
      {33, 2 * block + odd, 1},    // decode
      {17, 3 * block + odd, 9},    // a few token tiles plus a tail
      {5, 16 * block, 64},         // many tokens, long rows
      {32, 40 * block + odd, 5},   // whole groups of 16 rows over long rows (Q4_0/Q8_0: the transposed repack)
      {130, 2 * block + odd, 6},   // enough rows per thread to split unevenly among 7 threads
  };
  ThreadPool pool(2), many(7);
  for_each_target([&] {
    for (const Shape& s : shapes) {
      check(dtype, s, nullptr);
      check(dtype, s, &pool);
    }
    check(dtype, shapes.back(), &many);
    // 1..9 tokens: every remainder of the prefill token tiles (3 or 4 tokens), two whole
    // tiles, and the decode path, on an odd row count that leaves a remainder of every row
    // tile and of the 16-row blocks.
    for (int64_t tokens = 1; tokens <= 9; ++tokens) check(dtype, {19, 2 * block + odd, tokens}, nullptr);
  });
}

// Raw quantized blocks with random bytes (every quant value and every Q4_K/Q6_K sub-block
// scale bit pattern, Q8_0's -128 included) against activations that hit ±127 after
// quantization: the largest int16 pair sums vpmaddubsw can see. Activations are multiples of
// 0.5 with a block max of 63.5, so 8-bit quantization is exact and only f32 rounding remains.
TEST(KernelMatmulExtremes, FullRangeBlockBytesMatchTheReference) {
  // 5 tokens: the decode kernels; 21: the prompt kernels (AMX tiles where the CPU has them).
  for (int64_t tokens : {5, 21})
  for (DType dtype : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    const int64_t rows = 9, cols = 512;
    const size_t row_bytes = dtype_row_bytes(dtype, cols), block_bytes = dtype_info(dtype).block_bytes;
    std::mt19937 rng(static_cast<uint32_t>(dtype) + 11);
    std::vector<uint8_t> bytes(row_bytes * rows);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    // Keep the f16 scales finite and small; everything else stays random.
    std::uniform_real_distribution<float> scale(0.001f, 0.01f);
    auto set_half = [&](size_t at) {
      const uint16_t h = f32_to_f16(scale(rng));
      std::memcpy(&bytes[at], &h, 2);
    };
    for (size_t blk = 0; blk < bytes.size(); blk += block_bytes) {
      if (dtype == DType::Q6_K) {
        set_half(blk + block_bytes - 2);
      } else {
        set_half(blk);
        if (dtype == DType::Q4_K) set_half(blk + 2);
      }
      if (dtype == DType::Q8_0) bytes[blk + 2 + rng() % 32] = 0x80;  // -128
    }
    const WeightMatrix w{dtype, bytes.data(), rows, cols};
    std::vector<float> x(static_cast<size_t>(tokens * cols));
    for (size_t i = 0; i < x.size(); ++i) {
      const int k = i % 32 == 0 ? ((i / 32) % 2 ? 127 : -127) : static_cast<int>(rng() % 255) - 127;
      x[i] = 0.5f * static_cast<float>(k);
    }
    std::vector<float> w_f32(static_cast<size_t>(cols));
    std::vector<float> ref(static_cast<size_t>(rows * tokens)), got(ref.size());
    matmul_reference(w, x.data(), tokens, ref.data());
    ThreadPool pool(2);
    for_each_target([&] {
      matmul(w, x.data(), tokens, got.data(), &pool);
      for (int64_t r = 0; r < rows; ++r) {
        row_to_f32(dtype, w.row(r), w_f32.data(), cols);
        for (int64_t t = 0; t < tokens; ++t) {
          double magnitude = 0;
          for (int64_t k = 0; k < cols; ++k) magnitude += std::fabs(static_cast<double>(w_f32[k]) * x[t * cols + k]);
          const size_t i = static_cast<size_t>(t * rows + r);
          ASSERT_NEAR(got[i], ref[i], 1e-5 * magnitude + 1e-6) << dtype_name(dtype) << " r=" << r << " t=" << t;
        }
      }
    });
  }
}

// The x86 byte kernels of every quantized type, including those the dispatcher sends to the
// int16 kernels on this CPU: AVX-512 VNNI machines run all of them (with vpdpbusd in place of
// vpmaddubsw + vpmaddwd). Skipped where the CPU has no x86 SIMD target.
TEST(KernelMatmulBytes, EveryQuantTypeMatchesOnAwkwardShapes) {
  bool ran = false;
  for_each_target([&] {
    std::vector<float> probe(32, 1.0f), out(1);
    const std::vector<uint8_t> block(dtype_row_bytes(DType::Q8_0, 32));
    if (!matmul_quantized_bytes_for_test({DType::Q8_0, block.data(), 1, 32}, probe.data(), 1, out.data())) return;
    ran = true;
    for (DType dtype : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
      const int64_t block_size = std::max<int64_t>(32, dtype_info(dtype).block_size);
      for (Shape s : std::vector<Shape>{{1, block_size, 1}, {7, block_size, 5}, {33, 2 * block_size, 1},
                                        {17, 3 * block_size, 9}, {19, 9 * 32 * (block_size / 32), 7},
                                        {5, 16 * block_size, 64}})
        check(dtype, s, nullptr, true);
    }
  });
  if (!ran) GTEST_SKIP() << "no x86 byte kernels on this CPU";
}

// Intel AMX (opt-in, FACET_AMX=1): prompts of 9 or more tokens take the tile kernels
// (matmul_quant_amx-inl.h) for Q8_0, Q4_0 and Q4_K. They must give the AVX-512 VNNI prompt
// kernels' bits exactly, and pass check(): the decode kernels' bits token by token and the
// references.
TEST(KernelMatmulAmx, TilesGiveTheVnniKernelsBits) {
  if (!amx_int8_available()) GTEST_SKIP() << "no AMX-INT8 on this CPU";
  ASSERT_STREQ(matmul_simd_target(), "AVX3_DL") << "AMX kernels live in the AVX-512 VNNI target";
  const bool was_on = amx_int8_in_use();
  ThreadPool pool(2);
  for (DType dtype : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) {
    const int64_t block = std::max<int64_t>(32, dtype_info(dtype).block_size);
    // Token counts around the 16-token tiles and their pairs (a partial last tile, one whole,
    // several plus a tail), rows around the 16-row groups and their pairs, and for
    // Q8_0/Q4_0 a row ending in a partial group of 8 blocks.
    const int64_t odd_cols = block == 32 ? 13 * 32 : 5 * block;
    for (Shape s : std::vector<Shape>{{37, 3 * block, 9}, {16, 2 * block, 16}, {21, odd_cols, 33}, {50, 4 * block, 64},
                                      {64, 2 * block, 40}}) {
      Case c = make_case(dtype, s, static_cast<uint32_t>(s.rows * 17 + s.tokens));
      std::vector<float> tiles(static_cast<size_t>(s.rows * s.tokens), NAN), vnni(tiles.size(), NAN);
      set_amx_enabled_for_test(true);
      matmul(c.w, c.x.data(), s.tokens, tiles.data(), &pool);
      check(dtype, s, &pool);
      set_amx_enabled_for_test(false);
      matmul(c.w, c.x.data(), s.tokens, vnni.data(), &pool);
      for (size_t i = 0; i < tiles.size(); ++i)
        ASSERT_EQ(tiles[i], vnni[i]) << dtype_name(dtype) << " " << s.rows << "x" << s.cols << " tokens " << s.tokens
                                     << " at " << i;
    }
  }
  set_amx_enabled_for_test(was_on);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, KernelMatmul,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K,
                                           DType::Q6_K, DType::NF4),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(KernelMatmulTargets, ReportsTheDispatchedTarget) {
  std::printf("  dispatched SIMD target: %s; compiled and supported:", matmul_simd_target());
  for (int64_t t : matmul_simd_targets()) std::printf(" %s", hwy::TargetName(t));
  std::printf("\n");
  EXPECT_GE(matmul_simd_targets().size(), 2u) << "expected a SIMD target and the portable baseline";
}

TEST(KernelMatmulTargets, ZeroActivationsGiveZero) {
  for (DType dtype : {DType::Q8_0, DType::Q4_K}) {
    Case c = make_case(dtype, {3, 256, 2}, 5);
    std::vector<float> x(c.x.size(), 0.0f), y(6, NAN);
    matmul(c.w, x.data(), 2, y.data(), nullptr);
    for (float v : y) EXPECT_EQ(v, 0.0f) << dtype_name(dtype);
  }
}

}  // namespace
}  // namespace facet
