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

#include <algorithm>

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

// In-place softmax. Attention runs it over every query's scores (the vision tower's 2394
// patches see each other: libm's scalar expf was 18% of an image's encode time). exp(x - max)
// through Highway's vector Exp (arguments clamped at -87, below which it is 0 to f32
// precision); the sum of each 64 vectors in f32 lanes, the running total in double.
void Softmax(float* x, int64_t n) {
  if (n <= 0) return;
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  const int64_t whole = n - n % N;
  float max = x[0];
  if (whole > 0) {
    auto m = hn::LoadU(d, x);
    for (int64_t i = N; i < whole; i += N) m = hn::Max(m, hn::LoadU(d, x + i));
    max = hn::GetLane(hn::MaxOfLanes(d, m));
  }
  for (int64_t i = whole; i < n; ++i) max = std::max(max, x[i]);
  const auto shift = hn::Set(d, max), floor = hn::Set(d, -87.0f);
  auto exp_of = [&](auto v) HWY_ATTR { return hn::Exp(d, hn::Max(hn::Sub(v, shift), floor)); };
  double total = 0;
  for (int64_t begin = 0; begin < whole; begin += 64 * N) {
    const int64_t end = std::min(whole, begin + 64 * N);
    auto sum = hn::Zero(d);
    for (int64_t i = begin; i < end; i += N) {
      const auto e = exp_of(hn::LoadU(d, x + i));
      hn::StoreU(e, d, x + i);
      sum = hn::Add(sum, e);
    }
    total += static_cast<double>(hn::GetLane(hn::SumOfLanes(d, sum)));
  }
  if (whole < n) {  // the tail through a padded vector, so every element gets the same arithmetic
    HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)];
    const int64_t rest = n - whole;
    for (int64_t j = 0; j < N; ++j) buf[j] = j < rest ? x[whole + j] : max;
    hn::Store(exp_of(hn::Load(d, buf)), d, buf);
    for (int64_t j = 0; j < rest; ++j) total += static_cast<double>(x[whole + j] = buf[j]);
  }
  const auto inv = hn::Set(d, static_cast<float>(1.0 / total));
  for (int64_t i = 0; i < whole; i += N) hn::StoreU(hn::Mul(hn::LoadU(d, x + i), inv), d, x + i);
  for (int64_t i = whole; i < n; ++i) x[i] *= static_cast<float>(1.0 / total);
}

}  // namespace HWY_NAMESPACE
}  // namespace facet
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace facet {

HWY_EXPORT(GeluTanhMul);
HWY_EXPORT(SoftCap);
HWY_EXPORT(Softmax);

void softmax(float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(Softmax)(x, n); }

void gelu_tanh_mul(float* gate, const float* mul, int64_t n) { HWY_DYNAMIC_DISPATCH(GeluTanhMul)(gate, mul, n); }

void soft_cap(float* x, int64_t n, double cap) { HWY_DYNAMIC_DISPATCH(SoftCap)(x, n, static_cast<float>(cap)); }

}  // namespace facet
#endif  // HWY_ONCE
