// GGML block types: dequantization checked against blocks built byte by byte in the test
// (layouts and formulas written out here from ggml's definitions), and quantize ->
// dequantize round trips within the error each format allows.
#include "tensor/quant_blocks.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "tensor/convert.h"

namespace facet {
namespace {

void put_u16(std::vector<uint8_t>& bytes, size_t at, uint16_t v) {
  bytes[at] = static_cast<uint8_t>(v & 0xFF);
  bytes[at + 1] = static_cast<uint8_t>(v >> 8);
}

std::vector<float> decode(DType dtype, const std::vector<uint8_t>& bytes, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  row_to_f32(dtype, bytes.data(), out.data(), n);
  return out;
}

// f16 bit patterns used below: 0x3800 = 0.5, 0x3400 = 0.25, 0x3000 = 0.125, 0xB400 = -0.25.
TEST(QuantBlocks, Q8_0DecodesHandBuiltBlocks) {
  std::vector<uint8_t> bytes(2 * 34);
  put_u16(bytes, 0, 0x3800);
  put_u16(bytes, 34, 0xB400);
  for (int i = 0; i < 32; ++i) {
    bytes[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(i * 8 - 128));
    bytes[36 + i] = static_cast<uint8_t>(static_cast<int8_t>(127 - i));
  }
  auto got = decode(DType::Q8_0, bytes, 64);
  for (int i = 0; i < 32; ++i) {
    EXPECT_EQ(got[i], 0.5f * (i * 8 - 128)) << i;
    EXPECT_EQ(got[32 + i], -0.25f * (127 - i)) << i;
  }
}

TEST(QuantBlocks, Q4_0DecodesHandBuiltBlock) {
  // Byte j holds element j in its low nibble and element j + 16 in its high nibble; value = d (q - 8).
  std::vector<uint8_t> bytes(18);
  put_u16(bytes, 0, 0x3400);
  for (int j = 0; j < 16; ++j) bytes[2 + j] = static_cast<uint8_t>(j | ((15 - j) << 4));
  auto got = decode(DType::Q4_0, bytes, 32);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(got[j], 0.25f * (j - 8)) << j;
    EXPECT_EQ(got[16 + j], 0.25f * (15 - j - 8)) << j;
  }
}

TEST(QuantBlocks, Q4_KDecodesHandBuiltBlock) {
  // 144 bytes: d, dmin (f16), 12 bytes of 6-bit scales/mins, 128 bytes of nibbles.
  const int sc[8] = {1, 63, 17, 32, 5, 48, 33, 60};
  const int m[8] = {0, 7, 63, 16, 40, 2, 31, 59};
  std::vector<uint8_t> bytes(144);
  put_u16(bytes, 0, 0x3800);  // d = 0.5
  put_u16(bytes, 2, 0x3400);  // dmin = 0.25
  uint8_t* s = bytes.data() + 4;
  for (int j = 0; j < 4; ++j) {
    // Bytes 0-3: scale j (6 bits) + top 2 bits of scale j+4; bytes 4-7: min j + top bits of min j+4;
    // bytes 8-11: low 4 bits of scale j+4 and of min j+4.
    s[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
  }
  for (int k = 0; k < 128; ++k) bytes[16 + k] = static_cast<uint8_t>((k * 7 + 3) & 0xFF);
  auto got = decode(DType::Q4_K, bytes, 256);
  for (int i = 0; i < 256; ++i) {
    // Element i is in sub-block i / 32; sub-blocks 2g and 2g+1 share bytes 32g..32g+31 (low, high nibble).
    const int sub = i / 32, byte = bytes[16 + 32 * (sub / 2) + i % 32];
    const int q = sub % 2 == 0 ? byte & 15 : byte >> 4;
    const double want = 0.5 * sc[sub] * q - 0.25 * m[sub];
    ASSERT_NEAR(got[i], want, 1e-6) << i;
  }
}

TEST(QuantBlocks, Q6_KDecodesHandBuiltBlock) {
  // 210 bytes: ql[128], qh[64], int8 scales[16], d (f16). The test picks every 6-bit value,
  // packs it the way ggml lays it out and checks d * scale[i / 16] * (q - 32).
  int q[256];
  for (int i = 0; i < 256; ++i) q[i] = (i * 37 + 5) % 64;
  std::vector<uint8_t> bytes(210);
  for (int h = 0; h < 2; ++h) {
    const int* v = q + 128 * h;
    for (int l = 0; l < 32; ++l) {
      bytes[64 * h + l] = static_cast<uint8_t>((v[l] & 15) | ((v[64 + l] & 15) << 4));
      bytes[64 * h + 32 + l] = static_cast<uint8_t>((v[32 + l] & 15) | ((v[96 + l] & 15) << 4));
      bytes[128 + 32 * h + l] =
          static_cast<uint8_t>((v[l] >> 4) | ((v[32 + l] >> 4) << 2) | ((v[64 + l] >> 4) << 4) | ((v[96 + l] >> 4) << 6));
    }
  }
  int8_t scales[16];
  for (int s = 0; s < 16; ++s) {
    scales[s] = static_cast<int8_t>(s * 17 - 128);
    bytes[192 + s] = static_cast<uint8_t>(scales[s]);
  }
  put_u16(bytes, 208, 0x3000);  // d = 0.125
  auto got = decode(DType::Q6_K, bytes, 256);
  for (int i = 0; i < 256; ++i) ASSERT_EQ(got[i], 0.125f * scales[i / 16] * (q[i] - 32)) << i;
}

std::vector<float> gaussian(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<float> round_trip(DType dtype, const std::vector<float>& x, std::vector<uint8_t>* bytes_out = nullptr) {
  std::vector<uint8_t> bytes(dtype_row_bytes(dtype, static_cast<int64_t>(x.size())));
  row_from_f32(dtype, x.data(), bytes.data(), static_cast<int64_t>(x.size()));
  if (bytes_out) *bytes_out = bytes;
  return decode(dtype, bytes, static_cast<int64_t>(x.size()));
}

double rms_error(const std::vector<float>& a, const std::vector<float>& b) {
  double e = 0;
  for (size_t i = 0; i < a.size(); ++i) e += (static_cast<double>(a[i]) - b[i]) * (static_cast<double>(a[i]) - b[i]);
  return std::sqrt(e / static_cast<double>(a.size()));
}

TEST(QuantBlocks, Q8_0RoundTripIsWithinHalfAStep) {
  auto x = gaussian(4096, 1);
  std::vector<uint8_t> bytes;
  auto y = round_trip(DType::Q8_0, x, &bytes);
  for (size_t b = 0; b < x.size() / 32; ++b) {
    uint16_t d_bits;
    std::memcpy(&d_bits, bytes.data() + 34 * b, 2);
    const float d = f16_to_f32(d_bits);
    for (size_t i = 32 * b; i < 32 * b + 32; ++i) ASSERT_LE(std::fabs(x[i] - y[i]), 0.5f * d * 1.001f) << i;
  }
  // Re-quantizing dequantized values reproduces the same bytes.
  std::vector<uint8_t> again;
  round_trip(DType::Q8_0, y, &again);
  EXPECT_EQ(again, bytes);
}

TEST(QuantBlocks, Q4_0RoundTripIsWithinOneStep) {
  auto x = gaussian(4096, 2);
  std::vector<uint8_t> bytes;
  auto y = round_trip(DType::Q4_0, x, &bytes);
  for (size_t b = 0; b < x.size() / 32; ++b) {
    uint16_t d_bits;
    std::memcpy(&d_bits, bytes.data() + 18 * b, 2);
    const float d = std::fabs(f16_to_f32(d_bits));
    // Half a step inside the grid; the largest |x| on the side opposite the -8 level can reach +8 d
    // but only +7 d is stored, so a whole step there.
    for (size_t i = 32 * b; i < 32 * b + 32; ++i) ASSERT_LE(std::fabs(x[i] - y[i]), d * 1.001f) << i;
  }
  std::vector<uint8_t> again;
  round_trip(DType::Q4_0, y, &again);
  EXPECT_EQ(again, bytes);
}

// RMS errors on N(0, 1) data, each with headroom over what the format's step size implies
// (step / sqrt(12) with step ≈ block range / levels): Q8_0 ≈ 0.005, Q4_0 ≈ 0.085,
// Q4_K ≈ 0.075 before its least-squares refit, Q6_K ≈ 0.016.
TEST(QuantBlocks, RoundTripRmsErrorMatchesEachFormatsResolution) {
  auto x = gaussian(256 * 64, 3);
  const std::pair<DType, double> limits[] = {
      {DType::Q8_0, 0.006}, {DType::Q4_0, 0.095}, {DType::Q4_K, 0.08}, {DType::Q6_K, 0.02}};
  for (const auto& [dtype, limit] : limits) {
    const double e = rms_error(x, round_trip(dtype, x));
    std::printf("  %s rms error %.4f\n", std::string(dtype_name(dtype)).c_str(), e);
    EXPECT_LE(e, limit) << dtype_name(dtype);
    EXPECT_GT(e, limit / 20) << dtype_name(dtype) << ": suspiciously exact";
  }
}

TEST(QuantBlocks, KQuantsKeepOffsetAndScaledRowsAccurate) {
  // Rows far from zero-mean (Q4_K's min term) and with very different sub-block magnitudes
  // (the 6-bit / int8 sub-block scales).
  auto x = gaussian(512, 4);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i < 256 ? 3.0f + 0.5f * x[i] : x[i] * static_cast<float>(1 + (i / 32) % 8));
  for (DType dtype : {DType::Q4_K, DType::Q6_K}) {
    auto y = round_trip(dtype, x);
    for (size_t b = 0; b < x.size() / 32; ++b) {
      float amax = 0, lo = x[32 * b], hi = x[32 * b];
      for (size_t i = 32 * b; i < 32 * b + 32; ++i) {
        amax = std::max(amax, std::fabs(x[i]));
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
      }
      // Half a quantization step for rounding, plus up to a step where the rounded 6-bit (Q4_K)
      // or int8 (Q6_K) sub-block scale pushes an extreme value past the last level.
      const float step = dtype == DType::Q4_K ? (hi - std::min(lo, 0.0f)) / 15 : amax / 32;
      for (size_t i = 32 * b; i < 32 * b + 32; ++i)
        ASSERT_LE(std::fabs(x[i] - y[i]), 1.5f * step) << dtype_name(dtype) << " element " << i;
    }
  }
}

TEST(QuantBlocks, ZeroBlocksDecodeToZero) {
  std::vector<float> x(256, 0.0f);
  for (DType dtype : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K})
    for (float v : round_trip(dtype, x)) ASSERT_EQ(v, 0.0f) << dtype_name(dtype);
}

TEST(QuantBlocks, TypeTableMatchesBlockStructs) {
  EXPECT_EQ(dtype_info(DType::Q8_0).block_bytes, sizeof(BlockQ8_0));
  EXPECT_EQ(dtype_info(DType::Q4_0).block_bytes, sizeof(BlockQ4_0));
  EXPECT_EQ(dtype_info(DType::Q4_K).block_bytes, sizeof(BlockQ4_K));
  EXPECT_EQ(dtype_info(DType::Q6_K).block_bytes, sizeof(BlockQ6_K));
  for (DType d : {DType::Q8_0, DType::Q4_0, DType::Q4_K, DType::Q6_K}) EXPECT_TRUE(dtype_info(d).computable);
}

}  // namespace
}  // namespace facet
