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
#include <random>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/matmul_simd.h"
#include "tensor/convert.h"
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

void check(DType dtype, Shape s, ThreadPool* pool) {
  Case c = make_case(dtype, s, static_cast<uint32_t>(s.rows * 131 + s.cols * 7 + s.tokens));
  std::vector<float> got(static_cast<size_t>(s.rows * s.tokens), NAN), ref(got.size());
  matmul(c.w, c.x.data(), s.tokens, got.data(), pool);
  matmul_reference(c.w, c.x.data(), s.tokens, ref.data());
  // A token's result doesn't depend on how many tokens share the call (decode kernels and
  // batched kernels do the same arithmetic), so batch and token-by-token logits agree.
  for (int64_t t = 0; t < s.tokens; ++t) {
    std::vector<float> one(static_cast<size_t>(s.rows));
    matmul(c.w, c.x.data() + t * s.cols, 1, one.data(), pool);
    for (int64_t r = 0; r < s.rows; ++r)
      ASSERT_EQ(one[static_cast<size_t>(r)], got[static_cast<size_t>(t * s.rows + r)])
          << dtype_name(dtype) << " token " << t << " row " << r << " of " << s.tokens;
  }
  const bool quantized = dtype_info(dtype).block_size > 1;
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
  };
  ThreadPool pool(2);
  for_each_target([&] {
    for (const Shape& s : shapes) {
      check(dtype, s, nullptr);
      check(dtype, s, &pool);
    }
  });
}

INSTANTIATE_TEST_SUITE_P(AllTypes, KernelMatmul,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_K,
                                           DType::Q6_K),
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
