#include "tensor/convert.h"

#include <cmath>
#include <cstring>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif
#include <vector>

#include "tensor/nf4.h"
#include "tensor/quant_blocks.h"
#include "util/error.h"

namespace facet {
namespace {

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

#if defined(__x86_64__)
// F16 rows through the CPU's F16C conversion, 8 values an instruction (the KV cache's default
// type: decode at long contexts converts every cached row of a layer per step, and one call
// of f16_to_f32 per value was about 5% of an E2B step at 2,000 positions). A group holding a
// signalling NaN, which vcvtph2ps would quiet, goes through f16_to_f32, so every bit pattern
// converts as f16_to_f32 converts it.
__attribute__((target("avx,f16c"))) void f16_row_to_f32_f16c(const uint8_t* s, float* d, int64_t n) {
  const __m128i magnitude = _mm_set1_epi16(0x7fff), infinity = _mm_set1_epi16(0x7c00), quiet = _mm_set1_epi16(0x0200);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + 2 * i));
    const __m128i nan = _mm_cmpgt_epi16(_mm_and_si128(h, magnitude), infinity);
    const __m128i signalling = _mm_and_si128(nan, _mm_cmpeq_epi16(_mm_and_si128(h, quiet), _mm_setzero_si128()));
    if (_mm_movemask_epi8(signalling) == 0) {
      _mm256_storeu_ps(d + i, _mm256_cvtph_ps(h));
    } else {
      for (int64_t j = i; j < i + 8; ++j) d[j] = f16_to_f32(load_u16(s + 2 * j));
    }
  }
  for (; i < n; ++i) d[i] = f16_to_f32(load_u16(s + 2 * i));
}

// The same 16 at a time on AVX-512 (BW and VL for the 16-bit compares into a mask): half
// the instructions per value again, for the attention of long contexts, which converts
// every cached row it reads.
__attribute__((target("avx512f,avx512bw,avx512vl,f16c"))) void f16_row_to_f32_avx512(const uint8_t* s, float* d,
                                                                                    int64_t n) {
  const __m256i magnitude = _mm256_set1_epi16(0x7fff), infinity = _mm256_set1_epi16(0x7c00),
                quiet = _mm256_set1_epi16(0x0200);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + 2 * i));
    const __mmask16 nan = _mm256_cmpgt_epi16_mask(_mm256_and_si256(h, magnitude), infinity);
    if (_mm256_mask_testn_epi16_mask(nan, h, quiet) == 0) {  // no NaN without the quiet bit
      // The zero-masked form with every lane on: the same instruction, and no GCC 12
      // "may be used uninitialized" note from the plain intrinsic's undefined source.
      _mm512_storeu_ps(d + i, _mm512_maskz_cvtph_ps(0xFFFF, h));
    } else {
      for (int64_t j = i; j < i + 16; ++j) d[j] = f16_to_f32(load_u16(s + 2 * j));
    }
  }
  if (i < n) f16_row_to_f32_f16c(s + 2 * i, d + i, n - i);
}

// CPUID leaf 1: AVX (ecx bit 28) and F16C (bit 29), and the OS saving YMM state (OSXSAVE,
// bit 27, then XCR0 bits 1-2). Read directly: clang's __builtin_cpu_supports knows no "f16c".
bool cpu_has_f16c() {
  static const bool yes = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) == 0) return false;
    if (((c >> 27) & 7u) != 7u) return false;
    unsigned lo = 0, hi = 0;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6u) == 6u;
  }();
  return yes;
}

// CPUID leaf 7: AVX-512 F (ebx bit 16), BW (30), VL (31), and the OS saving the mask and
// upper ZMM registers (XCR0 bits 5-7) besides YMM.
bool cpu_has_avx512bw_vl() {
  static const bool yes = [] {
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!cpu_has_f16c() || __get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
    if (((b >> 16) & 1u) == 0 || ((b >> 30) & 3u) != 3u) return false;
    unsigned lo = 0, hi = 0;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 0xE6u) == 0xE6u;
  }();
  return yes;
}
#endif

}  // namespace

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      int e = -1;
      do {
        mant <<= 1;
        ++e;
      } while ((mant & 0x400u) == 0);
      mant &= 0x3ffu;
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | mant << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

const float* f16_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t h = 0; h < 65536; ++h) t[h] = f16_to_f32(static_cast<uint16_t>(h));
    return t;
  }();
  return table.data();
}

uint16_t f32_to_f16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs < 0x38800000u) {  // result is subnormal or zero
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // below half the smallest subnormal
    uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    // value = mant * 2^(exp-150) and the f16 subnormal unit is 2^-24, so the f16
    // mantissa is mant >> (126 - exp), rounded to nearest even.
    int shift = 126 - static_cast<int>(abs >> 23);
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t midpoint = 1u << (shift - 1);
    if (rem > midpoint || (rem == midpoint && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t h = ((abs >> 13) - ((127 - 15) << 10));
  uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

void row_to_f32(DType dtype, const void* src, float* dst, int64_t n) {
  switch (dtype) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    // 16-bit loads go through memcpy: safetensors data need not be aligned.
    case DType::F16: {
      const auto* s = static_cast<const uint8_t*>(src);
#if defined(__x86_64__)
      if (cpu_has_avx512bw_vl()) {
        f16_row_to_f32_avx512(s, dst, n);
        return;
      }
      if (cpu_has_f16c()) {
        f16_row_to_f32_f16c(s, dst, n);
        return;
      }
#endif
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load_u16(s + 2 * i));
      return;
    }
    case DType::BF16: {
      const auto* s = static_cast<const uint8_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(s + 2 * i));
      return;
    }
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q6_K:
      dequantize_row(dtype, src, dst, n);
      return;
    case DType::NF4:
      dequantize_row_nf4(src, dst, n);
      return;
    default:
      fail("no f32 conversion for weight type ", dtype_name(dtype), " yet");
  }
}

void row_from_f32(DType dtype, const float* src, void* dst, int64_t n) {
  switch (dtype) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case DType::F16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::BF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_K:
    case DType::Q6_K:
      quantize_row(dtype, src, dst, n);
      return;
    case DType::NF4:
      quantize_row_nf4(src, dst, n);
      return;
    default:
      fail("cannot write weight type ", dtype_name(dtype), " yet");
  }
}

}  // namespace facet
