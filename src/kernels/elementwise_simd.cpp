// Whole-row GELU (tanh form) for the feed-forward and per-layer-embedding gates, and the
// logit soft-cap, compiled per instruction set with Google Highway and dispatched at run
// time. The scalar gelu_tanh()
// spends most of its time in libm's tanh; here a vector exp does 8 (AVX2) or 16 lanes at once.
//
// Same function as gelu_tanh(): 0.5 z (1 + tanh(u)), u = sqrt(2/pi) (z + 0.044715 z^3),
// evaluated through the identity 0.5 (1 + tanh(u)) = 1 / (1 + exp(-2u)). That form has no
// cancellation for negative z (1 + tanh(u) → 0), so the result keeps its relative accuracy
// across the whole range instead of only an absolute one.
#include "kernels/simd_targets.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/elementwise_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include "kernels/elementwise.h"

HWY_BEFORE_NAMESPACE();
namespace facet {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D, class V>
HWY_INLINE V GeluTanh(D d, V z) {
  const V k = hn::Set(d, -2.0f * 0.7978845608028654f);  // -2 sqrt(2/pi)
  const V c = hn::Set(d, 0.044715f);
  // exp's argument clamped: beyond ±80 the quotient is already 0 or z to f32 precision, and
  // Highway's Exp is only defined up to about 88.
  const V limit = hn::Set(d, 80.0f);
  const V z2 = hn::Mul(z, z);
  const V minus_2u = hn::Mul(hn::Mul(k, z), hn::MulAdd(c, z2, hn::Set(d, 1.0f)));
  const V e = hn::Exp(d, hn::Min(hn::Max(minus_2u, hn::Neg(limit)), limit));
  return hn::Div(z, hn::Add(hn::Set(d, 1.0f), e));
}

// gate[i] = gelu_tanh(gate[i]) * (mul ? mul[i] : 1).
void GeluTanhMul(float* gate, const float* mul, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    auto g = GeluTanh(d, hn::LoadU(d, gate + i));
    if (mul != nullptr) g = hn::Mul(g, hn::LoadU(d, mul + i));
    hn::StoreU(g, d, gate + i);
  }
  if (i < n) {  // the tail through a padded vector, so every element gets the same arithmetic
    HWY_ALIGN float g_buf[HWY_MAX_BYTES / sizeof(float)] = {};
    HWY_ALIGN float m_buf[HWY_MAX_BYTES / sizeof(float)] = {};
    const int64_t rest = n - i;
    for (int64_t j = 0; j < rest; ++j) {
      g_buf[j] = gate[i + j];
      m_buf[j] = mul != nullptr ? mul[i + j] : 1.0f;
    }
    const auto g = hn::Mul(GeluTanh(d, hn::Load(d, g_buf)), hn::Load(d, m_buf));
    hn::Store(g, d, g_buf);
    for (int64_t j = 0; j < rest; ++j) gate[i + j] = g_buf[j];
  }
}

// x[i] = cap * tanh(x[i] / cap). Runs over the whole vocabulary (262k logits) for every
// generated token, where libm's scalar tanh was half of a small model's decode time.
void SoftCap(float* x, int64_t n, float cap) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const auto scale = hn::Set(d, cap), inv = hn::Set(d, 1.0f / cap);
  int64_t i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(hn::Mul(scale, hn::Tanh(d, hn::Mul(hn::LoadU(d, x + i), inv))), d, x + i);
  if (i < n) {  // the tail through a padded vector, so every element gets the same arithmetic
    HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)] = {};
    const int64_t rest = n - i;
    for (int64_t j = 0; j < rest; ++j) buf[j] = x[i + j];
    hn::Store(hn::Mul(scale, hn::Tanh(d, hn::Mul(hn::Load(d, buf), inv))), d, buf);
    for (int64_t j = 0; j < rest; ++j) x[i + j] = buf[j];
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace facet
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace facet {

HWY_EXPORT(GeluTanhMul);
HWY_EXPORT(SoftCap);

void gelu_tanh_mul(float* gate, const float* mul, int64_t n) { HWY_DYNAMIC_DISPATCH(GeluTanhMul)(gate, mul, n); }

void soft_cap(float* x, int64_t n, double cap) { HWY_DYNAMIC_DISPATCH(SoftCap)(x, n, static_cast<float>(cap)); }

}  // namespace facet
#endif  // HWY_ONCE
