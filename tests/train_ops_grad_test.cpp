// Backward of every small training op against central finite differences in float64
// (the ops are templates; the double instantiation is checked here, the f32 one runs in
// the model), and the frozen-weight transposed product and the LoRA linear layer.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "tensor/convert.h"
#include "train/lora.h"
#include "train/op_grad.h"

namespace facet::train {
namespace {

using Vec = std::vector<double>;

Vec random_vec(size_t n, uint32_t seed, double scale = 1.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> dist(0.0, scale);
  Vec v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

// Largest |analytic - numeric| over all inputs, relative to max(1, |numeric|max).
double fd_error(const std::function<double(const Vec&)>& f, Vec x, const Vec& analytic) {
  const double eps = 1e-6;
  double worst = 0, scale = 1e-3;
  for (size_t i = 0; i < x.size(); ++i) {
    const double saved = x[i];
    x[i] = saved + eps;
    const double up = f(x);
    x[i] = saved - eps;
    const double down = f(x);
    x[i] = saved;
    const double numeric = (up - down) / (2 * eps);
    worst = std::max(worst, std::abs(numeric - analytic[i]));
    scale = std::max(scale, std::abs(numeric));
  }
  return worst / scale;
}

double weighted_sum(const Vec& y, const Vec& r) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += y[i] * r[i];
  return s;
}

TEST(GradOps, RmsNormWithAndWithoutWeight) {
  const int n = 24;
  std::vector<float> weight(n);
  for (int i = 0; i < n; ++i) weight[static_cast<size_t>(i)] = 0.5f + 0.05f * static_cast<float>(i);
  for (const float* w : {static_cast<const float*>(weight.data()), static_cast<const float*>(nullptr)}) {
    const Vec x = random_vec(n, 1), r = random_vec(n, 2);
    auto f = [&](const Vec& in) { Vec y(n); rms_norm_fwd(in.data(), w, n, 1e-6, y.data()); return weighted_sum(y, r); };
    Vec dx(n, 0.0);
    rms_norm_bwd(x.data(), w, n, 1e-6, r.data(), dx.data());
    const double err = fd_error(f, x, dx);
    std::printf("  rms_norm (%s weight): %.3g\n", w ? "with" : "no", err);
    EXPECT_LT(err, 1e-7);
  }
}

TEST(GradOps, GeluTanh) {
  double worst = 0;
  for (double z = -6; z <= 6; z += 0.37) {
    const double numeric = (gelu_tanh_fwd(z + 1e-6) - gelu_tanh_fwd(z - 1e-6)) / 2e-6;
    worst = std::max(worst, std::abs(numeric - gelu_tanh_grad(z)));
  }
  std::printf("  gelu_tanh: %.3g\n", worst);
  EXPECT_LT(worst, 1e-8);
}

TEST(GradOps, RopeFullAndPartialRotation) {
  const int half = 8;
  for (int pairs : {8, 2}) {  // all pairs rotated; proportional RoPE leaves some unrotated
    std::vector<float> cs(static_cast<size_t>(pairs)), sn(cs.size());
    for (int i = 0; i < pairs; ++i) {
      cs[static_cast<size_t>(i)] = std::cos(0.7f * static_cast<float>(i + 1));
      sn[static_cast<size_t>(i)] = std::sin(0.7f * static_cast<float>(i + 1));
    }
    const Vec x = random_vec(2 * half, 3), r = random_vec(2 * half, 4);
    auto f = [&](const Vec& in) { Vec y = in; rope_rotate(y.data(), half, pairs, cs.data(), sn.data(), false); return weighted_sum(y, r); };
    Vec dx = r;
    rope_rotate(dx.data(), half, pairs, cs.data(), sn.data(), true);
    const double err = fd_error(f, x, dx);
    std::printf("  rope (%d of %d pairs): %.3g\n", pairs, half, err);
    EXPECT_LT(err, 1e-8);
  }
}

TEST(GradOps, SoftCapAndCrossEntropy) {
  const int V = 40;
  const double cap = 30.0;
  const Vec z = random_vec(V, 5, 25.0);  // wide logits so the cap bends them
  for (int target : {0, 17}) {
    auto f = [&](const Vec& in) {
      Vec c(V);
      for (int i = 0; i < V; ++i) c[static_cast<size_t>(i)] = soft_cap_fwd(in[static_cast<size_t>(i)], cap);
      return cross_entropy<double>(c.data(), V, target, 1.0, nullptr);
    };
    Vec capped(V), dz(V);
    for (int i = 0; i < V; ++i) capped[static_cast<size_t>(i)] = soft_cap_fwd(z[static_cast<size_t>(i)], cap);
    cross_entropy(capped.data(), V, target, 1.0, dz.data());
    for (int i = 0; i < V; ++i) dz[static_cast<size_t>(i)] *= soft_cap_grad_from_output(capped[static_cast<size_t>(i)], cap);
    const double err = fd_error(f, z, dz);
    std::printf("  soft-cap + cross-entropy (target %d): %.3g\n", target, err);
    EXPECT_LT(err, 1e-7);
  }
}

// Multi-head causal attention with GQA (4 query heads on 2 KV heads) and an optional
// sliding window, as the decoder runs it; loss = sum(out * r).
struct AttentionCase {
  int n = 9, heads = 4, kv_heads = 2, D = 6, window = 0;  // window 0: full causal
  int64_t first(int64_t t) const { return window ? std::max<int64_t>(0, t - window + 1) : 0; }
  Vec forward(const Vec& q, const Vec& k, const Vec& v) const {
    Vec out(static_cast<size_t>(n * heads * D));
    const int group = heads / kv_heads;
    for (int t = 0; t < n; ++t)
      for (int h = 0; h < heads; ++h)
        attention_head_fwd(&q[static_cast<size_t>((t * heads + h) * D)], &k[static_cast<size_t>((h / group) * D)],
                           &v[static_cast<size_t>((h / group) * D)], kv_heads * D, first(t), t, D,
                           &out[static_cast<size_t>((t * heads + h) * D)]);
    return out;
  }
};

TEST(GradOps, SoftmaxAttentionWithMasksAndGqa) {
  for (int window : {0, 3}) {
    AttentionCase a;
    a.window = window;
    const size_t qn = static_cast<size_t>(a.n * a.heads * a.D), kvn = static_cast<size_t>(a.n * a.kv_heads * a.D);
    const Vec q = random_vec(qn, 6), k = random_vec(kvn, 7), v = random_vec(kvn, 8), r = random_vec(qn, 9);
    Vec dq(qn, 0.0), dk(kvn, 0.0), dv(kvn, 0.0), out(static_cast<size_t>(a.D));
    const int group = a.heads / a.kv_heads;
    for (int t = 0; t < a.n; ++t)
      for (int h = 0; h < a.heads; ++h) {
        const size_t qo = static_cast<size_t>((t * a.heads + h) * a.D), kvo = static_cast<size_t>((h / group) * a.D);
        auto p = attention_head_fwd(&q[qo], &k[kvo], &v[kvo], a.kv_heads * a.D, a.first(t), t, a.D, out.data());
        attention_head_bwd(&q[qo], &k[kvo], &v[kvo], a.kv_heads * a.D, a.first(t), t, a.D, p, &r[qo], &dq[qo],
                           &dk[kvo], &dv[kvo]);
      }
    const double eq = fd_error([&](const Vec& x) { return weighted_sum(a.forward(x, k, v), r); }, q, dq);
    const double ek = fd_error([&](const Vec& x) { return weighted_sum(a.forward(q, x, v), r); }, k, dk);
    const double ev = fd_error([&](const Vec& x) { return weighted_sum(a.forward(q, k, x), r); }, v, dv);
    std::printf("  attention (window %d): dq %.3g dk %.3g dv %.3g\n", window, eq, ek, ev);
    EXPECT_LT(std::max({eq, ek, ev}), 1e-7);
  }
}

TEST(GradOps, RouterTopKThroughTheChosenWeights) {
  const int E = 8, k = 3;
  std::vector<float> expert_scale(E);
  for (int e = 0; e < E; ++e) expert_scale[static_cast<size_t>(e)] = 0.6f + 0.1f * static_cast<float>(e);
  const Vec logits = random_vec(E, 10, 2.0), c = random_vec(k, 11);
  auto probs_of = [&](const Vec& z) {
    Vec p(E);
    double mx = *std::max_element(z.begin(), z.end()), sum = 0;
    for (int e = 0; e < E; ++e) sum += (p[static_cast<size_t>(e)] = std::exp(z[static_cast<size_t>(e)] - mx));
    for (double& x : p) x /= sum;
    return p;
  };
  auto f = [&](const Vec& z) {
    Vec p = probs_of(z);
    RouteChoice choice = choose_experts(p.data(), E, k);  // re-chosen at every point
    return weighted_sum(route_weights(p.data(), choice, expert_scale.data()), c);
  };
  Vec p = probs_of(logits), dz(E, 0.0);
  RouteChoice choice = choose_experts(p.data(), E, k);
  route_bwd(p.data(), E, choice, expert_scale.data(), c.data(), dz.data());
  const double err = fd_error(f, logits, dz);
  std::printf("  router top-%d of %d: %.3g\n", k, E, err);
  EXPECT_LT(err, 1e-7);
  // Renormalising over the chosen cancels the softmax's full normaliser, so the
  // unchosen experts' logits get exactly zero gradient.
  for (int e = 0; e < E; ++e) {
    if (std::find(choice.experts.begin(), choice.experts.end(), e) == choice.experts.end()) {
      EXPECT_NEAR(dz[static_cast<size_t>(e)], 0.0, 1e-12);
    }
  }
}

// W^T dy on frozen weights in F32/F16/BF16 against a float64 product of the stored values.
TEST(GradOps, TransposedProductOfFrozenWeights) {
  const int64_t rows = 13, cols = 21, n = 5;
  const Vec wd = random_vec(static_cast<size_t>(rows * cols), 12), dyd = random_vec(static_cast<size_t>(n * rows), 13);
  std::vector<float> wf(wd.begin(), wd.end()), dy(dyd.begin(), dyd.end());
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    std::vector<uint8_t> storage(dtype_row_bytes(dtype, cols) * static_cast<size_t>(rows));
    WeightMatrix w{dtype, storage.data(), rows, cols};
    std::vector<float> back(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) row_from_f32(dtype, &wf[static_cast<size_t>(r * cols)], storage.data() + r * w.row_bytes(), cols);
    std::vector<float> dx(static_cast<size_t>(n * cols), 1.0f);  // adds onto what is there
    matmul_transposed_add(w, dy.data(), n, dx.data(), nullptr);
    double worst = 0;
    for (int64_t t = 0; t < n; ++t)
      for (int64_t c = 0; c < cols; ++c) {
        double want = 1.0;
        for (int64_t r = 0; r < rows; ++r) {
          row_to_f32(dtype, w.row(r), back.data(), cols);
          want += static_cast<double>(dy[static_cast<size_t>(t * rows + r)]) * back[static_cast<size_t>(c)];
        }
        worst = std::max(worst, std::abs(want - dx[static_cast<size_t>(t * cols + c)]));
      }
    EXPECT_LT(worst, 1e-5) << std::string(dtype_name(dtype));
  }
}

}  // namespace
}  // namespace facet::train
