// NF4 (bitsandbytes 4-bit NormalFloat) decoding, quantization and products, checked
// against double-precision references written here from the spec's formulas
// (finetune.md §4.2-4.4), not from the code under test.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/matmul.h"
#include "tensor/convert.h"
#include "tensor/nf4.h"
#include "train/lora.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

// finetune.md §4.2, index -> value.
const double kSpecNf4[16] = {-1.0,
                             -0.6961928009986877,
                             -0.5250730514526367,
                             -0.39491748809814453,
                             -0.28444138169288635,
                             -0.18477343022823334,
                             -0.09105003625154495,
                             0.0,
                             0.07958029955625534,
                             0.16093020141124725,
                             0.24611230194568634,
                             0.33791524171829224,
                             0.44070982933044434,
                             0.5626170039176941,
                             0.7229568362236023,
                             1.0};

// create_dynamic_map(signed=True) in double: per exponent level i (0..6) the 2^i means of
// consecutive points of linspace(0.1, 1, 2^i + 1), times 10^(i-6), both signs; plus 0 and 1.
std::vector<double> reference_dynamic_map() {
  std::vector<double> v = {0.0, 1.0};
  for (int i = 0; i < 7; ++i) {
    const int points = (1 << i) + 1;
    for (int k = 0; k + 1 < points; ++k) {
      const double a = 0.1 + 0.9 * k / (points - 1), b = 0.1 + 0.9 * (k + 1) / (points - 1);
      const double m = std::pow(10.0, i - 6) * (a + b) / 2;
      v.push_back(m);
      v.push_back(-m);
    }
  }
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<float> normal_values(int64_t n, uint32_t seed, double sigma = 0.05) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> dist(0.0, sigma);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<float>(dist(rng));
  return v;
}

TEST(Nf4, CodebookIsTheSpecTable) {
  for (int i = 0; i < 16; ++i) EXPECT_EQ(kNf4Codebook[static_cast<size_t>(i)], static_cast<float>(kSpecNf4[i])) << i;
}

TEST(Nf4, DynamicMapMatchesTheDoubleReference) {
  const std::vector<double> want = reference_dynamic_map();
  ASSERT_EQ(want.size(), 256u);
  const auto& got = dynamic_map_signed();  // f32 arithmetic as bitsandbytes builds it: a few ulp off
  for (size_t i = 0; i < 256; ++i) EXPECT_NEAR(got[i], want[i], 4e-7 * std::max(1e-6, std::fabs(want[i]))) << i;
}

TEST(Nf4, HandBuiltRuntimeBlockDecodesHighNibbleFirst) {
  // absmax 2.0; byte j holds elements 2j (high nibble) and 2j+1 (low nibble).
  std::vector<uint8_t> block(kNf4BlockBytes, 0x77);  // code 7 = 0.0 everywhere
  const float absmax = 2.0f;
  std::memcpy(block.data(), &absmax, 4);
  block[4] = 0x0F;   // elements 0, 1: codes 0 (-1.0) and 15 (1.0)
  block[5] = 0xA3;   // elements 2, 3: codes 10 and 3
  block[35] = 0x8E;  // elements 62, 63: codes 8 and 14
  float out[64];
  row_to_f32(DType::NF4, block.data(), out, 64);
  EXPECT_EQ(out[0], -2.0f);
  EXPECT_EQ(out[1], 2.0f);
  EXPECT_FLOAT_EQ(out[2], static_cast<float>(2 * kSpecNf4[10]));
  EXPECT_FLOAT_EQ(out[3], static_cast<float>(2 * kSpecNf4[3]));
  EXPECT_FLOAT_EQ(out[62], static_cast<float>(2 * kSpecNf4[8]));
  EXPECT_FLOAT_EQ(out[63], static_cast<float>(2 * kSpecNf4[14]));
  for (int i = 4; i < 62; ++i) EXPECT_EQ(out[i], 0.0f) << i;
}

TEST(Nf4, HandBuiltBitsandbytesBytesDecodeHighNibbleFirst) {
  const uint8_t packed[2] = {0xF0, 0x12};
  const float absmax[1] = {0.5f};
  EXPECT_EQ(bnb_nf4_element(packed, absmax, 0), 0.5f);
  EXPECT_EQ(bnb_nf4_element(packed, absmax, 1), -0.5f);
  EXPECT_FLOAT_EQ(bnb_nf4_element(packed, absmax, 2), static_cast<float>(0.5 * kSpecNf4[1]));
  EXPECT_FLOAT_EQ(bnb_nf4_element(packed, absmax, 3), static_cast<float>(0.5 * kSpecNf4[2]));
}

TEST(Nf4, NestedAbsmaxDecodesAsTheSpecSays) {
  // absmax_b = DYN[q_b] * absmax2[b / 256] + offset, with 300 blocks (two nested groups).
  const std::vector<double> dyn = reference_dynamic_map();
  std::vector<float> map(dyn.begin(), dyn.end());
  std::vector<uint8_t> codes(300);
  for (size_t b = 0; b < codes.size(); ++b) codes[b] = static_cast<uint8_t>((b * 37 + 11) % 256);
  const float nested[2] = {0.25f, 0.125f}, offset = 0.5f;
  const std::vector<float> got = decode_nested_absmax(codes.data(), 300, map.data(), nested, 256, offset);
  for (size_t b = 0; b < 300; ++b) {
    const double want = static_cast<double>(map[codes[b]]) * nested[b / 256] + offset;
    EXPECT_NEAR(got[b], want, 1e-7) << b;
  }
}

// Decodes a bitsandbytes tensor in double from the spec: the reference for quantization.
std::vector<double> reference_decode(const BnbNf4Quantized& q, int64_t n) {
  const std::vector<double> dyn = reference_dynamic_map();
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t b = i / 64;
    const double absmax = dyn[q.absmax_codes[static_cast<size_t>(b)]] * q.nested_absmax[static_cast<size_t>(b / 256)] +
                          q.offset;
    const uint8_t byte = q.packed[static_cast<size_t>(i / 2)];
    out[static_cast<size_t>(i)] = kSpecNf4[i % 2 == 0 ? byte >> 4 : byte & 15] * absmax;
  }
  return out;
}

TEST(Nf4, BitsandbytesQuantizationPicksNearestCodesAndDoubleQuantizesAbsmax) {
  const int64_t n = 64 * 300 + 37;  // 301 blocks, the last one short; 2 nested groups
  const std::vector<float> w = normal_values(n, 7);
  const BnbNf4Quantized q = quantize_bnb_nf4(w.data(), n);
  ASSERT_EQ(q.packed.size(), static_cast<size_t>((n + 1) / 2));
  ASSERT_EQ(q.absmax_codes.size(), 301u);
  ASSERT_EQ(q.nested_absmax.size(), 2u);
  double mean = 0;
  std::vector<double> absmax(301, 0.0);
  for (int64_t i = 0; i < n; ++i) absmax[static_cast<size_t>(i / 64)] = std::max(absmax[static_cast<size_t>(i / 64)], std::fabs(double(w[i])));
  for (double a : absmax) mean += a / 301;
  EXPECT_NEAR(q.offset, mean, 1e-6 * mean);
  const std::vector<double> dyn = reference_dynamic_map();
  for (size_t b = 0; b < 301; ++b) {
    // The absmax code is the dynamic-map entry nearest to (absmax - mean) / absmax2.
    const double x = (absmax[b] - q.offset) / q.nested_absmax[b / 256];
    double best = 1e9;
    for (double d : dyn) best = std::min(best, std::fabs(d - x));
    EXPECT_LE(std::fabs(dyn[q.absmax_codes[b]] - x), best + 1e-6) << "block " << b;
  }
  for (size_t g = 0; g < 2; ++g) {  // absmax2 = max |absmax - mean| over the group
    double m = 0;
    for (size_t b = g * 256; b < std::min<size_t>(301, (g + 1) * 256); ++b) m = std::max(m, std::fabs(absmax[b] - q.offset));
    EXPECT_NEAR(q.nested_absmax[g], m, 1e-6 * m);
  }
  for (int64_t i = 0; i < n; ++i) {  // each 4-bit code is the NF4 value nearest to w / absmax
    const double x = w[i] / absmax[static_cast<size_t>(i / 64)];
    const uint8_t byte = q.packed[static_cast<size_t>(i / 2)];
    const int code = i % 2 == 0 ? byte >> 4 : byte & 15;
    double best = 1e9;
    for (double c : kSpecNf4) best = std::min(best, std::fabs(c - x));
    ASSERT_LE(std::fabs(kSpecNf4[code] - x), best + 1e-6) << "element " << i;
  }
  // End to end: decoded weights stay within half the widest NF4 gap (0.16) of each block's
  // absmax, plus the absmax's own 8-bit error.
  const std::vector<double> back = reference_decode(q, n);
  double worst = 0;
  for (int64_t i = 0; i < n; ++i)
    worst = std::max(worst, std::fabs(back[static_cast<size_t>(i)] - w[i]) / absmax[static_cast<size_t>(i / 64)]);
  std::printf("  NF4 round trip: max |w - w'| / absmax = %.4f\n", worst);
  EXPECT_LE(worst, 0.17);
}

TEST(Nf4, BitsandbytesToRuntimeRowsKeepsEveryValue) {
  const int64_t rows = 5, cols = 192;
  const std::vector<float> w = normal_values(rows * cols, 3);
  const BnbNf4Quantized q = quantize_bnb_nf4(w.data(), rows * cols);
  const std::vector<float> absmax = decode_nested_absmax(q.absmax_codes.data(), rows * cols / 64,
                                                         dynamic_map_signed().data(), q.nested_absmax.data(), 256, q.offset);
  const std::vector<uint8_t> runtime = bnb_nf4_to_runtime(q.packed.data(), absmax.data(), rows, cols);
  ASSERT_EQ(runtime.size(), dtype_row_bytes(DType::NF4, cols) * rows);
  const std::vector<double> want = reference_decode(q, rows * cols);
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    row_to_f32(DType::NF4, runtime.data() + r * dtype_row_bytes(DType::NF4, cols), row.data(), cols);
    for (int64_t c = 0; c < cols; ++c) EXPECT_NEAR(row[static_cast<size_t>(c)], want[static_cast<size_t>(r * cols + c)], 1e-7);
  }
}

// Runtime NF4 matrix from random values, and its values decoded in double by the test.
struct Nf4Matrix {
  std::vector<uint8_t> bytes;
  std::vector<double> values;
  WeightMatrix m;
};

Nf4Matrix make_nf4_matrix(int64_t rows, int64_t cols, uint32_t seed) {
  Nf4Matrix out;
  const std::vector<float> w = normal_values(rows * cols, seed);
  out.bytes.resize(dtype_row_bytes(DType::NF4, cols) * rows);
  row_from_f32(DType::NF4, w.data(), out.bytes.data(), rows * cols);
  for (int64_t b = 0; b < rows * cols / 64; ++b) {
    const uint8_t* blk = out.bytes.data() + b * kNf4BlockBytes;
    float absmax;
    std::memcpy(&absmax, blk, 4);
    for (int j = 0; j < 64; ++j) {
      const uint8_t byte = blk[4 + j / 2];
      out.values.push_back(kSpecNf4[j % 2 == 0 ? byte >> 4 : byte & 15] * absmax);
    }
  }
  out.m = {DType::NF4, out.bytes.data(), rows, cols};
  return out;
}

TEST(Nf4, MatmulMatchesDoubleReference) {
  const int64_t rows = 70, cols = 256, n = 5;
  const Nf4Matrix w = make_nf4_matrix(rows, cols, 11);
  const std::vector<float> x = normal_values(n * cols, 12, 1.0);
  ThreadPool pool(2);
  for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
    std::vector<float> y(static_cast<size_t>(n * rows));
    matmul(w.m, x.data(), n, y.data(), p);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t r = 0; r < rows; ++r) {
        double want = 0;
        for (int64_t c = 0; c < cols; ++c) want += w.values[static_cast<size_t>(r * cols + c)] * x[static_cast<size_t>(t * cols + c)];
        EXPECT_NEAR(y[static_cast<size_t>(t * rows + r)], want, 1e-5 * (1 + std::fabs(want)));
      }
  }
}

TEST(Nf4, TransposedProductForTheBackwardPassMatchesDoubleReference) {
  const int64_t rows = 130, cols = 128, n = 3;
  const Nf4Matrix w = make_nf4_matrix(rows, cols, 21);
  const std::vector<float> dy = normal_values(n * rows, 22, 1.0);
  std::vector<float> dx(static_cast<size_t>(n * cols), 0.5f);  // it adds to what is there
  ThreadPool pool(2);
  train::matmul_transposed_add(w.m, dy.data(), n, dx.data(), &pool);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t c = 0; c < cols; ++c) {
      double want = 0.5;
      for (int64_t r = 0; r < rows; ++r) want += w.values[static_cast<size_t>(r * cols + c)] * dy[static_cast<size_t>(t * rows + r)];
      EXPECT_NEAR(dx[static_cast<size_t>(t * cols + c)], want, 1e-5 * (1 + std::fabs(want)));
    }
}

}  // namespace
}  // namespace facet
