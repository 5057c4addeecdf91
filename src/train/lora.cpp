// LoRA adapters: creation, PEFT initialisation, and the adapted linear layer's forward
// and backward (finetune spec §1.1-§1.3).
#include "train/lora.h"

#include "train/adapter_names.h"
#include "train/expert_lora.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "tensor/convert.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet::train {
namespace {

constexpr const char* kTargetNames[kLoraTargetCount] = {
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
    "per_layer_input_gate", "per_layer_projection", "experts.gate_up_proj", "experts.down_proj"};

uint64_t mix64(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Inverted-dropout multiplier (0 or 1/(1-p)) of element `index` of the LoRA input.
float dropout_factor(const DropoutKey& key, double p, uint64_t index) {
  const uint64_t h = mix64(mix64(mix64(key.seed) ^ (static_cast<uint64_t>(key.layer) << 8 |
                                                   static_cast<uint64_t>(key.target))) ^ index);
  const double u = static_cast<double>(h >> 11) * 0x1.0p-53;
  return u < p ? 0.0f : static_cast<float>(1.0 / (1.0 - p));
}

// The LoRA branch input drop(x) for n tokens (a copy of x when p == 0).
std::vector<float> dropped_input(const float* x, int64_t n, int64_t in, double p, const DropoutKey& key) {
  std::vector<float> xd(x, x + n * in);
  if (p > 0)
    for (size_t i = 0; i < xd.size(); ++i) xd[i] *= dropout_factor(key, p, i);
  return xd;
}

WeightMatrix f32_matrix(const std::vector<float>& v, int64_t rows, int64_t cols) {
  return {DType::F32, reinterpret_cast<const uint8_t*>(v.data()), rows, cols};
}

}  // namespace

const char* lora_target_name(LoraTarget target) { return kTargetNames[static_cast<int>(target)]; }

LoraTarget parse_lora_target(const std::string& name) {
  for (int i = 0; i < kLoraTargetCount; ++i)
    if (name == kTargetNames[i]) return static_cast<LoraTarget>(i);
  fail("unknown LoRA target module '", name, "' (expected q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, ",
       "down_proj, per_layer_input_gate, per_layer_projection, or the MoE expert parameters ",
       "experts.gate_up_proj and experts.down_proj)");
}

double LoraConfig::scale() const {
  return use_rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / rank;
}

void LoraModel::zero_grad() {
  for (auto& [param, grad] : parameters()) std::fill(grad->begin(), grad->end(), 0.0f);
}

std::vector<std::pair<std::vector<float>*, std::vector<float>*>> LoraModel::parameters() {
  std::vector<std::pair<std::vector<float>*, std::vector<float>*>> out;
  for (LoraLayer& layer : layers)
    for (auto& m : layer.modules)
      if (m) {
        out.push_back({&m->a, &m->grad_a});
        out.push_back({&m->b, &m->grad_b});
      }
  return out;
}

int64_t LoraModel::parameter_count() const {
  int64_t count = 0;
  for (const LoraLayer& layer : layers)
    for (const auto& m : layer.modules)
      if (m) count += static_cast<int64_t>(m->a.size() + m->b.size());
  return count;
}

LoraModel make_lora(const Model& model, const LoraConfig& config, uint64_t seed) {
  require(config.rank > 0, "LoRA rank must be positive (got ", config.rank, ")");
  require(config.dropout >= 0 && config.dropout < 1, "LoRA dropout must be in [0, 1) (got ", config.dropout, ")");
  LoraModel lora;
  lora.config = config;
  lora.layers.resize(model.weights.layers.size());
  std::mt19937_64 rng(seed);
  int64_t adapted = 0;
  for (size_t l = 0; l < lora.layers.size(); ++l) {
    for (LoraTarget t : config.targets) {
      LoraWeights m;
      if (is_expert_target(t)) {
        const ExpertShape shape = expert_target_shape(model.config, t);
        if (shape.experts == 0) continue;  // no MoE block
        require(config.dropout == 0, "LoRA on ", lora_target_name(t), " needs lora_dropout 0 (got ", config.dropout,
                "): PEFT's target_parameters (ParamWrapper) does not support dropout");
        m.in = shape.in;
        m.out = shape.out;
        m.experts = shape.experts;
      } else {
        const WeightMatrix& w = adapted_matrix(model.weights, static_cast<int>(l), t);
        if (w.data == nullptr || w.rows == 0) continue;  // not on this layer (KV-shared, K=V, no PLE)
        m.in = w.cols;
        m.out = w.rows;
      }
      m.rank = config.rank;
      const int64_t factor_rows = m.rank * std::max<int64_t>(m.experts, 1);
      m.a.resize(static_cast<size_t>(factor_rows * m.in));
      // kaiming_uniform_(a=sqrt(5)) on fan_in = in: U(-1/sqrt(in), 1/sqrt(in)); for experts
      // PEFT initialises the whole [r·E, in] matrix the same way (fan_in is still in).
      std::uniform_real_distribution<double> dist(-1.0 / std::sqrt(static_cast<double>(m.in)),
                                                  1.0 / std::sqrt(static_cast<double>(m.in)));
      for (float& v : m.a) v = static_cast<float>(dist(rng));
      m.b.assign(static_cast<size_t>(m.out * factor_rows), 0.0f);
      m.grad_a.assign(m.a.size(), 0.0f);
      m.grad_b.assign(m.b.size(), 0.0f);
      lora.layers[l].modules[static_cast<size_t>(t)] = std::move(m);
      ++adapted;
    }
  }
  require(adapted > 0 || config.targets.empty(), "the LoRA targets match no module of the model");
  return lora;
}

void linear_fwd(const WeightMatrix& w, const LoraWeights* lora, double scale, double dropout, DropoutKey key,
                const float* x, int64_t n, float* y, ThreadPool* pool) {
  matmul(w, x, n, y, pool);
  if (!lora) return;
  std::vector<float> xd = dropped_input(x, n, lora->in, dropout, key);
  std::vector<float> h(static_cast<size_t>(n * lora->rank)), z(static_cast<size_t>(n * lora->out));
  matmul(f32_matrix(lora->a, lora->rank, lora->in), xd.data(), n, h.data(), pool);
  matmul(f32_matrix(lora->b, lora->out, lora->rank), h.data(), n, z.data(), pool);
  const float s = static_cast<float>(scale);
  for (size_t i = 0; i < z.size(); ++i) y[i] += s * z[i];
}

void linear_bwd(const WeightMatrix& w, LoraWeights* lora, double scale, double dropout, DropoutKey key,
                const float* x, int64_t n, const float* dy, float* dx, ThreadPool* pool) {
  matmul_transposed_add(w, dy, n, dx, pool);
  if (!lora) return;
  const int64_t r = lora->rank, in = lora->in, out = lora->out;
  std::vector<float> xd = dropped_input(x, n, in, dropout, key);
  std::vector<float> h(static_cast<size_t>(n * r));
  matmul(f32_matrix(lora->a, r, in), xd.data(), n, h.data(), pool);
  const float s = static_cast<float>(scale);
  // dB = s dY^T h; g_h = s dY B.
  std::vector<float> gh(static_cast<size_t>(n * r), 0.0f);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t o = 0; o < out; ++o) {
      const float g = s * dy[t * out + o];
      if (g == 0.0f) continue;
      float* gb = &lora->grad_b[static_cast<size_t>(o * r)];
      const float* b = &lora->b[static_cast<size_t>(o * r)];
      for (int64_t j = 0; j < r; ++j) {
        gb[j] += g * h[static_cast<size_t>(t * r + j)];
        gh[static_cast<size_t>(t * r + j)] += g * b[j];
      }
    }
  // dA = g_h^T drop(x); dx += (g_h A) ⊙ mask/(1-p).
  std::vector<float> gx(static_cast<size_t>(n * in), 0.0f);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < r; ++j) {
      const float g = gh[static_cast<size_t>(t * r + j)];
      float* ga = &lora->grad_a[static_cast<size_t>(j * in)];
      const float* a = &lora->a[static_cast<size_t>(j * in)];
      const float* xt = &xd[static_cast<size_t>(t * in)];
      float* gxt = &gx[static_cast<size_t>(t * in)];
      for (int64_t c = 0; c < in; ++c) {
        ga[c] += g * xt[c];
        gxt[c] += g * a[c];
      }
    }
  for (size_t i = 0; i < gx.size(); ++i)
    dx[i] += dropout > 0 ? gx[i] * dropout_factor(key, dropout, i) : gx[i];
}

void matmul_transposed_add(const WeightMatrix& w, const float* dy, int64_t n, float* dx, ThreadPool* pool) {
  constexpr int64_t kBlockRows = 64;  // rows converted per call (amortises the conversion)
  constexpr int64_t kChunks = 16;     // fixed row split: the sum order never depends on threads
  const int64_t cols = w.cols;
  auto add_rows = [&](int64_t r0, int64_t r1, int64_t t0, int64_t t1, float* out, std::vector<float>& buf) {
    for (int64_t b0 = r0; b0 < r1; b0 += kBlockRows) {
      const int64_t b1 = std::min(r1, b0 + kBlockRows);
      bool any = false;
      for (int64_t t = t0; t < t1 && !any; ++t)
        for (int64_t r = b0; r < b1 && !any; ++r) any = dy[t * w.rows + r] != 0.0f;
      if (!any) continue;
      // Rows are stored back to back (a row is whole quantization blocks): one call.
      row_to_f32(w.dtype, w.row(b0), buf.data(), (b1 - b0) * cols);
      accumulate_transposed(buf.data(), b1 - b0, cols, dy + t0 * w.rows + b0, w.rows, t1 - t0, out, cols);
    }
  };
  // Few tokens against many rows (the output head: 262144 rows): split the rows, each
  // chunk with its own partial dx, summed in chunk order afterwards.
  if (n * cols * kChunks <= (int64_t{1} << 22) && w.rows >= kChunks * kBlockRows) {
    std::vector<float> partial(static_cast<size_t>(kChunks * n * cols), 0.0f);
    const int64_t per_chunk = (w.rows + kChunks - 1) / kChunks;
    auto work = [&](int64_t c0, int64_t c1) {
      std::vector<float> buf(static_cast<size_t>(kBlockRows * cols));
      for (int64_t c = c0; c < c1; ++c)
        add_rows(c * per_chunk, std::min(w.rows, (c + 1) * per_chunk), 0, n, &partial[static_cast<size_t>(c * n * cols)], buf);
    };
    if (pool) pool->parallel_for(kChunks, work, 1);
    else work(0, kChunks);
    for (int64_t c = 0; c < kChunks; ++c)
      for (int64_t i = 0; i < n * cols; ++i) dx[i] += partial[static_cast<size_t>(c * n * cols + i)];
    return;
  }
  // Many tokens: split the tokens; each thread converts the rows it needs itself, so no
  // reduction is needed and memory stays at one block of rows per thread.
  auto work = [&](int64_t t0, int64_t t1) {
    std::vector<float> buf(static_cast<size_t>(kBlockRows * cols));
    add_rows(0, w.rows, t0, t1, dx + t0 * cols, buf);
  };
  if (pool) pool->parallel_for(n, work, 8);
  else work(0, n);
}

}  // namespace facet::train
