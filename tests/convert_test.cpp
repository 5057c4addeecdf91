#include "tensor/convert.h"

#include <gtest/gtest.h>

#include <cmath>
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
