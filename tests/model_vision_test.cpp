// Gemma 4's vision tower (model/vision.h):
//   - soft tokens of random towers (small with clamps, large with standardisation) against a
//     float64 reference written here from spec §9.1, reading the mmproj GGUF's tensors itself
//     (the patch embedding as the conv kernel it is there);
//   - the mmproj GGUF and the HF folder of one tower give the same numbers;
//   - a text model or an audio-only file given as a projector, and a truncated file, are clear errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "formats/gguf.h"
#include "model/vision.h"
#include "support/error_text.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "support/tower_reference.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

VisionConfig small_config(bool large_kind) {
  VisionConfig c;
  c.hidden_size = 32;
  c.n_heads = 4;
  c.head_dim = 8;
  c.intermediate_size = 48;
  c.n_layers = 2;
  c.patch_size = 4;
  c.pooling_kernel = 3;
  c.position_table_size = 20;
  c.text_hidden_size = 24;
  c.clipped_linears = !large_kind;
  c.standardize = large_kind;
  return c;
}

// Random pixel patches in [0, 1] for a rows x cols grid (a fixed LCG: independent of facet).
ImagePatches random_patches(int rows, int cols, int values_per_patch, uint32_t seed) {
  ImagePatches p;
  p.patch_rows = rows;
  p.patch_cols = cols;
  p.soft_tokens = rows * cols / 9;
  p.values.resize(static_cast<size_t>(rows) * cols * values_per_patch);
  test::Lcg lcg{seed};
  for (float& v : p.values) v = static_cast<float>(lcg.next() % 256) / 255.0f;
  return p;
}

// ---- float64 reference (spec §9.1), reading the GGUF tensors directly ----

using test::GgufTensors;
using test::ref_linear;
using test::ref_rms;
using test::Vec;

void ref_rope(double* v, int half, double pos, double theta) {
  const int quarter = half / 2;
  for (int j = 0; j < quarter; ++j) {
    const double inv_freq = std::pow(theta, -2.0 * j / half);
    const double a = v[j], b = v[j + quarter], c = std::cos(pos * inv_freq), s = std::sin(pos * inv_freq);
    v[j] = a * c - b * s;
    v[j + quarter] = b * c + a * s;
  }
}

Vec reference_tower(const std::string& mmproj, const VisionConfig& c, const ImagePatches& p) {
  GgufTensors f{GgufFile::open(mmproj)};
  const int64_t Hv = c.hidden_size, P = c.patch_size, D = c.head_dim, I = c.intermediate_size;
  const int64_t n = static_cast<int64_t>(p.patch_rows) * p.patch_cols;
  const int64_t cols = p.patch_cols;
  // Patch embedding: a stride-P convolution over the 3-channel patch scaled to [-1, 1].
  const Vec conv = f.get("v.patch_embd.weight");  // [Hv][channel][row][col]
  const Vec table = f.get("v.position_embd.weight");  // [2][size][Hv]
  const int64_t size = c.position_table_size;
  Vec h(static_cast<size_t>(n * Hv));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t o = 0; o < Hv; ++o) {
      double s = 0;
      for (int64_t ch = 0; ch < 3; ++ch)
        for (int64_t py = 0; py < P; ++py)
          for (int64_t px = 0; px < P; ++px) {
            const double pixel = p.values[static_cast<size_t>(t * 3 * P * P + (py * P + px) * 3 + ch)];
            s += conv[o * 3 * P * P + ch * P * P + py * P + px] * (2.0 * pixel - 1.0);
          }
      h[t * Hv + o] = s + table[(0 * size + t % cols) * Hv + o] + table[(1 * size + t / cols) * Hv + o];
    }
  for (int layer = 0; layer < c.n_layers; ++layer) {
    const std::string b = "v.blk." + std::to_string(layer) + ".";
    Vec x = h;
    const Vec ln1 = f.get(b + "ln1.weight");
    for (int64_t t = 0; t < n; ++t) ref_rms(&x[t * Hv], Hv, ln1.data(), c.rms_eps);
    Vec q = ref_linear(f, b + "attn_q", x, n, Hv), k = ref_linear(f, b + "attn_k", x, n, Hv),
        v = ref_linear(f, b + "attn_v", x, n, Hv);
    const Vec qn = f.get(b + "attn_q_norm.weight"), kn = f.get(b + "attn_k_norm.weight");
    for (int64_t t = 0; t < n; ++t)
      for (int64_t hd = 0; hd < c.n_heads; ++hd) {
        double* qv = &q[t * Hv + hd * D];
        double* kv = &k[t * Hv + hd * D];
        ref_rms(qv, D, qn.data(), c.rms_eps);
        ref_rms(kv, D, kn.data(), c.rms_eps);
        ref_rms(&v[t * Hv + hd * D], D, nullptr, c.rms_eps);
        for (double* u : {qv, kv}) {
          ref_rope(u, static_cast<int>(D / 2), static_cast<double>(t % cols), c.rope_theta);
          ref_rope(u + D / 2, static_cast<int>(D / 2), static_cast<double>(t / cols), c.rope_theta);
        }
      }
    Vec a(static_cast<size_t>(n * Hv), 0.0);
    for (int64_t hd = 0; hd < c.n_heads; ++hd)
      for (int64_t t = 0; t < n; ++t) {
        Vec s(static_cast<size_t>(n));
        double m = -INFINITY, z = 0;
        for (int64_t u = 0; u < n; ++u) {
          double d = 0;
          for (int64_t i = 0; i < D; ++i) d += q[t * Hv + hd * D + i] * k[u * Hv + hd * D + i];
          s[u] = d;  // scale 1.0
          m = std::max(m, d);
        }
        for (double& e : s) z += (e = std::exp(e - m));
        for (int64_t u = 0; u < n; ++u)
          for (int64_t i = 0; i < D; ++i) a[t * Hv + hd * D + i] += s[u] / z * v[u * Hv + hd * D + i];
      }
    Vec o = ref_linear(f, b + "attn_out", a, n, Hv);
    const Vec pn = f.get(b + "attn_post_norm.weight");
    for (int64_t t = 0; t < n; ++t) {
      ref_rms(&o[t * Hv], Hv, pn.data(), c.rms_eps);
      for (int64_t i = 0; i < Hv; ++i) h[t * Hv + i] += o[t * Hv + i];
    }
    Vec y = h;
    const Vec ln2 = f.get(b + "ln2.weight");
    for (int64_t t = 0; t < n; ++t) ref_rms(&y[t * Hv], Hv, ln2.data(), c.rms_eps);
    Vec g = ref_linear(f, b + "ffn_gate", y, n, Hv);
    const Vec up = ref_linear(f, b + "ffn_up", y, n, Hv);
    for (size_t i = 0; i < g.size(); ++i) {
      const double z = g[i];
      g[i] = 0.5 * z * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (z + 0.044715 * z * z * z))) * up[i];
    }
    Vec d = ref_linear(f, b + "ffn_down", g, n, I);
    const Vec fn = f.get(b + "ffn_post_norm.weight");
    for (int64_t t = 0; t < n; ++t) {
      ref_rms(&d[t * Hv], Hv, fn.data(), c.rms_eps);
      for (int64_t i = 0; i < Hv; ++i) h[t * Hv + i] += d[t * Hv + i];
    }
  }
  // 3x3 average pooling, × √Hv, standardisation, scale-less norm, projection.
  const int64_t prow = p.patch_rows / 3, pcol = p.patch_cols / 3, tokens = prow * pcol;
  Vec pooled(static_cast<size_t>(tokens * Hv), 0.0);
  for (int64_t pr = 0; pr < prow; ++pr)
    for (int64_t pc = 0; pc < pcol; ++pc)
      for (int64_t dy = 0; dy < 3; ++dy)
        for (int64_t dx = 0; dx < 3; ++dx)
          for (int64_t i = 0; i < Hv; ++i)
            pooled[(pr * pcol + pc) * Hv + i] += h[((3 * pr + dy) * cols + 3 * pc + dx) * Hv + i] / 9.0;
  for (double& e : pooled) e *= std::sqrt(static_cast<double>(Hv));
  if (f.has("v.std_bias")) {
    const Vec bias = f.get("v.std_bias"), scale = f.get("v.std_scale");
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t i = 0; i < Hv; ++i) pooled[t * Hv + i] = (pooled[t * Hv + i] - bias[i]) * scale[i];
  }
  for (int64_t t = 0; t < tokens; ++t) ref_rms(&pooled[t * Hv], Hv, nullptr, c.rms_eps);
  const Vec proj = f.get("mm.input_projection.weight");
  Vec out(static_cast<size_t>(tokens * c.text_hidden_size));
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t r = 0; r < c.text_hidden_size; ++r) {
      double s = 0;
      for (int64_t i = 0; i < Hv; ++i) s += proj[r * Hv + i] * pooled[t * Hv + i];
      out[t * c.text_hidden_size + r] = s;
    }
  return out;
}

class VisionTowerKinds : public ::testing::TestWithParam<bool> {};

TEST_P(VisionTowerKinds, SoftTokensMatchFloat64Reference) {
  const VisionConfig c = small_config(GetParam());
  test::TempDir dir;
  GeneratorOptions options;
  options.dtype = DType::F32;
  options.seed = 7;
  const std::string path = dir.file("mmproj.gguf");
  write_random_mmproj(c, options, path);
  auto tower = load_vision_tower(path);
  EXPECT_EQ(tower->config.clipped_linears, c.clipped_linears);
  EXPECT_EQ(tower->config.standardize, c.standardize);
  ThreadPool pool(2);
  // A non-square grid (6 x 9 patches -> 2 x 3 soft tokens) catches swapped x and y.
  const ImagePatches patches = random_patches(6, 9, c.patch_values(), 11);
  const std::vector<float> got = encode_image(*tower, patches, pool);
  ASSERT_EQ(got.size(), static_cast<size_t>(6 * c.text_hidden_size));
  test::expect_close(got, reference_tower(path, c, patches), 1e-4);
}

TEST_P(VisionTowerKinds, HfFolderGivesTheSameSoftTokens) {
  const VisionConfig c = small_config(GetParam());
  test::TempDir dir;
  GeneratorOptions options;
  options.dtype = DType::BF16;  // both files hold the same bf16-rounded values
  options.seed = 3;
  write_random_mmproj(c, options, dir.file("mmproj.gguf"));
  write_random_vision_hf(c, options, dir.file("hf"));
  ThreadPool pool(2);
  const ImagePatches patches = random_patches(3, 6, c.patch_values(), 5);
  const std::vector<float> a = encode_image(*load_vision_tower(dir.file("mmproj.gguf")), patches, pool);
  const std::vector<float> b = encode_image(*load_vision_tower(dir.file("hf")), patches, pool);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5 * (1 + std::abs(a[i]))) << i;
  EXPECT_TRUE(has_vision_tower(dir.file("mmproj.gguf")));
  EXPECT_TRUE(has_vision_tower(dir.file("hf")));
}

INSTANTIATE_TEST_SUITE_P(SmallAndLarge, VisionTowerKinds, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? std::string("Large") : std::string("Small"); });

TEST(VisionTower, RealE2bShapesLoad) {
  // The E2B/E4B tower's real shapes (16 layers of 768, 12 heads of 64, MLP 3072, clamps) and
  // E2B's text width: the manifest, writer and loader agree on every name and shape.
  VisionConfig c;
  test::TempDir dir;
  GeneratorOptions options;
  options.dtype = DType::F16;
  write_random_mmproj(c, options, dir.file("e2b-mmproj.gguf"));
  auto tower = load_vision_tower(dir.file("e2b-mmproj.gguf"));
  EXPECT_EQ(tower->config.hidden_size, 768);
  EXPECT_EQ(tower->config.n_layers, 16);
  EXPECT_EQ(tower->config.head_dim, 64);
  EXPECT_EQ(tower->config.text_hidden_size, 1536);
  EXPECT_TRUE(tower->config.clipped_linears);
  EXPECT_EQ(tower->weights.layers.size(), 16u);
  EXPECT_TRUE(std::isfinite(tower->weights.layers[3].gate.in_hi));
}

TEST(VisionTower, WrongFilesAreClearErrors) {
  test::TempDir dir;
  // A text model is not a projector.
  const std::string text_model = test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf";
  EXPECT_NE(test::error_of([&] { load_vision_tower(text_model); }).find("not a multimodal projector"), std::string::npos);
  EXPECT_FALSE(has_vision_tower(text_model));
  // A truncated projector.
  GeneratorOptions options;
  write_random_mmproj(small_config(false), options, dir.file("full.gguf"));
  std::vector<uint8_t> bytes = test::read_bytes(dir.file("full.gguf"));
  bytes.resize(bytes.size() / 2);
  test::write_bytes(dir.file("cut.gguf"), bytes);
  EXPECT_FALSE(test::error_of([&] { load_vision_tower(dir.file("cut.gguf")); }).empty());
  // A grid the pooler cannot take, and one over the position table.
  auto tower = load_vision_tower(dir.file("full.gguf"));
  ThreadPool pool(1);
  const VisionConfig c = small_config(false);
  EXPECT_NE(test::error_of([&] { encode_image(*tower, random_patches(4, 6, c.patch_values(), 1), pool); }).find("pool"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { encode_image(*tower, random_patches(3, 21, c.patch_values(), 1), pool); })
                .find("position table"),
            std::string::npos);
  EXPECT_EQ(test::error_of([&] { load_vision_tower(dir.file("nothing.gguf")); }).find("no such file") == std::string::npos,
            false);
}

}  // namespace
}  // namespace facet
