#include "tensor/convert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>
#include <limits>

namespace facet {
namespace {

// Independent f16 decoding: value = (-1)^s * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024.
double f16_reference(uint16_t h) {
  int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double sign = s ? -1.0 : 1.0;
  if (e == 0) return sign * std::ldexp(m / 1024.0, -14);
  if (e == 31) return m ? std::numeric_limits<double>::quiet_NaN() : sign * INFINITY;
  return sign * std::ldexp(1.0 + m / 1024.0, e - 15);
}

TEST(Convert, F16DecodesEveryBitPatternLikeTheFormula) {
  for (uint32_t h = 0; h < 65536; ++h) {
    double want = f16_reference(static_cast<uint16_t>(h));
    float got = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << h;
    } else {
      ASSERT_EQ(static_cast<double>(got), want) << "bits " << h;
    }
  }
}

// row_to_f32's F16 rows (16 at a time on AVX-512, 8 through F16C, where the CPU has them)
// give f16_to_f32's bits for every pattern, signalling NaNs included, at every offset and
// length of a row.
TEST(Convert, F16RowsDecodeEveryBitPatternAsTheScalarDoes) {
  std::vector<uint16_t> all(65536);
  for (uint32_t h = 0; h < 65536; ++h) all[h] = static_cast<uint16_t>(h);
  std::vector<float> got(all.size());
  row_to_f32(DType::F16, all.data(), got.data(), static_cast<int64_t>(all.size()));
  for (uint32_t h = 0; h < 65536; ++h) {
    const float want = f16_to_f32(static_cast<uint16_t>(h));
    uint32_t a, b;
    std::memcpy(&a, &got[h], 4);
    std::memcpy(&b, &want, 4);
    ASSERT_EQ(a, b) << "bits " << h;
  }
  for (int64_t first : {0, 1, 3, 7}) {  // unaligned starts and tails shorter than a group
    for (int64_t n : {1, 5, 8, 9, 15, 16, 17, 24, 31, 33, 48}) {
      std::vector<float> part(static_cast<size_t>(n));
      row_to_f32(DType::F16, all.data() + 0x7c00 + first, part.data(), n);  // infinities, NaNs
      for (int64_t i = 0; i < n; ++i) {
        const float want = f16_to_f32(all[static_cast<size_t>(0x7c00 + first + i)]);
        EXPECT_EQ(std::memcmp(&part[static_cast<size_t>(i)], &want, 4), 0) << first << " " << n << " " << i;
      }
    }
  }
}

TEST(Convert, F16EncodeRoundTripsEveryFiniteValue) {
  for (uint32_t h = 0; h < 65536; ++h) {
    if (((h >> 10) & 31) == 31) continue;
    ASSERT_EQ(f32_to_f16(f16_to_f32(static_cast<uint16_t>(h))), h) << h;
  }
}

TEST(Convert, F16EncodeRoundsToNearestEven) {
  // 1 + 2^-11 is exactly halfway between 1 and 1 + 2^-10: ties to even -> 1.0 (0x3c00).
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  // 1 + 3*2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9 (even) -> 0x3c02.
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);  // overflow -> inf
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -26)), 0x0000);  // below half of it
}

TEST(Convert, Bf16RoundsToNearestEven) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f)), 1.0f);
  // sqrt(1536) = 39.19... rounds to 39.25 in bf16 (spec §4.1).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(std::sqrt(1536.0f))), 39.25f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(std::sqrt(5376.0f))), 73.5f);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

}  // namespace
}  // namespace facet
