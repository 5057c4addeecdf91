// Gemma 4's audio tower (model/audio.h):
//   - soft tokens of a small random tower against a float64 reference written here from
//     spec §9.2 and the research facts, reading the mmproj GGUF's tensors itself; its
//     attention is HF's blocked form (blocks of 12 queries over a 24-frame context, the
//     relative shift, the soft cap, then the mask), not the sliding window facet runs;
//   - the mmproj GGUF and the HF folder of one tower give the same numbers (per_dim_scale
//     raw in HF, softplus'd in GGUF; conv_norm / norm_conv swapped in GGUF);
//   - the real E2B shapes load, and the E2B generator config reads as those shapes;
//   - a text model, a vision-only projector, a truncated file and bad features are clear errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/gguf.h"
#include "model/audio.h"
#include "model/vision.h"
#include "support/error_text.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "support/tower_reference.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

AudioConfig small_config() {
  AudioConfig c;
  c.hidden_size = 32;
  c.n_heads = 4;
  c.head_dim = 8;
  c.ffn_size = 128;
  c.n_layers = 2;
  c.sscp_channels = {8, 4};
  c.output_dims = 24;
  c.text_hidden_size = 16;
  return c;
}

// Random log-mel-like features in [-7, 3] (a fixed LCG: independent of facet).
AudioFeatures random_features(int frames, int bins, uint32_t seed) {
  AudioFeatures f;
  f.frames = frames;
  f.mel_bins = bins;
  f.values.resize(static_cast<size_t>(frames) * bins);
  test::Lcg lcg{seed};
  for (float& v : f.values) v = -7.0f + 10.0f * static_cast<float>(lcg.next() % 10000) / 10000.0f;
  return f;
}

// ---- float64 reference, reading the GGUF tensors directly ----

using test::GgufTensors;
using test::ref_linear;
using test::ref_plain;
using test::ref_rms;
using test::Vec;

void ref_rms_rows(Vec& x, int64_t width, const Vec& w, double eps) {
  for (size_t t = 0; t < x.size() / static_cast<size_t>(width); ++t)
    ref_rms(&x[t * width], width, w.empty() ? nullptr : w.data(), eps);
}

void ref_clip(Vec& x) {
  for (double& v : x) v = std::clamp(v, -1e10, 1e10);
}

double silu(double x) { return x / (1.0 + std::exp(-x)); }

// Conv2d 3x3, stride 2, padding 1 over NCHW-style in[c][t][f], then LayerNorm over the
// output channels at each (t, f) and ReLU. Returns out[c][t][f].
Vec ref_sscp(const Vec& in, int64_t cin, int64_t T, int64_t F, const Vec& w, const Vec& norm, int64_t& To, int64_t& Fo) {
  const int64_t cout = static_cast<int64_t>(norm.size());
  To = (T + 2 - 3) / 2 + 1;
  Fo = (F + 2 - 3) / 2 + 1;
  Vec out(static_cast<size_t>(cout * To * Fo), 0.0);
  for (int64_t co = 0; co < cout; ++co)
    for (int64_t t = 0; t < To; ++t)
      for (int64_t f = 0; f < Fo; ++f) {
        double s = 0;
        for (int64_t ci = 0; ci < cin; ++ci)
          for (int64_t kh = 0; kh < 3; ++kh)
            for (int64_t kw = 0; kw < 3; ++kw) {
              const int64_t st = 2 * t - 1 + kh, sf = 2 * f - 1 + kw;
              if (st < 0 || st >= T || sf < 0 || sf >= F) continue;
              s += w[((co * cin + ci) * 3 + kh) * 3 + kw] * in[(ci * T + st) * F + sf];
            }
        out[(co * To + t) * Fo + f] = s;
      }
  for (int64_t t = 0; t < To; ++t)
    for (int64_t f = 0; f < Fo; ++f) {
      double mean = 0, var = 0;
      for (int64_t co = 0; co < cout; ++co) mean += out[(co * To + t) * Fo + f] / static_cast<double>(cout);
      for (int64_t co = 0; co < cout; ++co) var += std::pow(out[(co * To + t) * Fo + f] - mean, 2) / static_cast<double>(cout);
      for (int64_t co = 0; co < cout; ++co) {
        double& v = out[(co * To + t) * Fo + f];
        v = std::max(0.0, (v - mean) / std::sqrt(var + 1e-6) * norm[co]);
      }
    }
  return out;
}

// x = r + 0.5 · post(down(silu(up(pre(clip(x)))))) with the clip after down.
void ref_ffn(const GgufTensors& f, const std::string& b, const std::string& suffix, Vec& x, int64_t n, int64_t H, int64_t I) {
  Vec h = x;
  ref_clip(h);
  ref_rms_rows(h, H, f.get(b + "ffn_norm" + suffix + ".weight"), 1e-6);
  Vec u = ref_linear(f, b + "ffn_up" + suffix, h, n, H);
  for (double& v : u) v = silu(v);
  h = ref_linear(f, b + "ffn_down" + suffix, u, n, I);
  ref_clip(h);
  ref_rms_rows(h, H, f.get(b + "ffn_post_norm" + suffix + ".weight"), 1e-6);
  for (size_t i = 0; i < x.size(); ++i) x[i] += 0.5 * h[i];
}

// HF's blocked local attention: blocks of 12 queries, each over a context of the 12 frames
// before the block and the block's 12 (zeros beyond the clip); the relative term picks
// the position-table row whose distance is t - s (rows hold 12, ..., 0); soft cap 50, then
// keys with distance outside [0, 11] or outside the clip are set to -1e9.
Vec ref_attention(const Vec& q, const Vec& k, const Vec& v, const Vec& relk, int64_t n, int64_t H, int64_t heads) {
  const int64_t D = H / heads, chunk = 12, past = 12, context = past + chunk;
  Vec out(static_cast<size_t>(n * H), 0.0);
  for (int64_t block = 0; block * chunk < n; ++block)
    for (int64_t i = 0; i < chunk; ++i) {
      const int64_t t = block * chunk + i;
      if (t >= n) break;
      for (int64_t h = 0; h < heads; ++h) {
        Vec logits(static_cast<size_t>(context));
        for (int64_t col = 0; col < context; ++col) {
          const int64_t s = block * chunk - past + col, dist = t - s;
          double ac = 0, bd = 0;
          for (int64_t d = 0; d < D; ++d) {
            const double qd = q[t * H + h * D + d];
            if (s >= 0 && s < n) ac += qd * k[s * H + h * D + d];
            if (dist >= 0 && dist <= past) bd += qd * relk[(past - dist) * H + h * D + d];
          }
          double logit = 50.0 * std::tanh((ac + bd) / 50.0);
          if (!(dist >= 0 && dist < 12 && s >= 0 && s < n)) logit = -1e9;
          logits[col] = logit;
        }
        const double m = *std::max_element(logits.begin(), logits.end());
        double z = 0;
        for (double& e : logits) z += (e = std::exp(e - m));
        for (int64_t col = 0; col < context; ++col) {
          const int64_t s = block * chunk - past + col;
          if (s < 0 || s >= n) continue;
          for (int64_t d = 0; d < D; ++d) out[t * H + h * D + d] += logits[col] / z * v[s * H + h * D + d];
        }
      }
    }
  return out;
}

Vec reference_tower(const std::string& mmproj, const AudioConfig& c, const AudioFeatures& feat) {
  GgufTensors f{GgufFile::open(mmproj)};
  const int64_t H = c.hidden_size, I = c.ffn_size, heads = c.n_heads, D = H / heads, K = c.conv_kernel;
  // Subsampling: the features as one input channel [1][T][128].
  int64_t T1 = 0, F1 = 0, T2 = 0, F2 = 0;
  const Vec input(feat.values.begin(), feat.values.end());
  const Vec s1 = ref_sscp(input, 1, feat.frames, feat.mel_bins, f.get("a.conv1d.0.weight"), f.get("a.conv1d.0.norm.weight"), T1, F1);
  const Vec s2 = ref_sscp(s1, c.sscp_channels[0], T1, F1, f.get("a.conv1d.1.weight"), f.get("a.conv1d.1.norm.weight"), T2, F2);
  const int64_t C1 = c.sscp_channels[1], n = T2;
  Vec flat(static_cast<size_t>(n * F2 * C1));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t fr = 0; fr < F2; ++fr)
      for (int64_t ch = 0; ch < C1; ++ch) flat[t * F2 * C1 + fr * C1 + ch] = s2[(ch * T2 + t) * F2 + fr];
  Vec x = ref_plain(f.get("a.input_projection.weight"), flat, n, F2 * C1);

  // Relative positions 12, ..., 0: sin of the H/2 timescales, then cos.
  Vec pos(static_cast<size_t>(13 * H));
  for (int64_t r = 0; r < 13; ++r)
    for (int64_t i = 0; i < H / 2; ++i) {
      const double ts = std::exp(-static_cast<double>(i) * std::log(10000.0) / static_cast<double>(H / 2 - 1));
      pos[r * H + i] = std::sin(static_cast<double>(12 - r) * ts);
      pos[r * H + H / 2 + i] = std::cos(static_cast<double>(12 - r) * ts);
    }

  for (int layer = 0; layer < c.n_layers; ++layer) {
    const std::string b = "a.blk." + std::to_string(layer) + ".";
    ref_ffn(f, b, "", x, n, H, I);
    {
      Vec h = x;
      ref_clip(h);
      ref_rms_rows(h, H, f.get(b + "attn_pre_norm.weight"), 1e-6);
      Vec q = ref_linear(f, b + "attn_q", h, n, H), k = ref_linear(f, b + "attn_k", h, n, H);
      const Vec v = ref_linear(f, b + "attn_v", h, n, H);
      const Vec pds = f.get(b + "per_dim_scale.weight");  // softplus already applied in GGUF
      for (int64_t t = 0; t < n; ++t)
        for (int64_t i = 0; i < H; ++i) {
          q[t * H + i] *= std::pow(static_cast<double>(D), -0.5) / std::log(2.0) * pds[i % D];
          k[t * H + i] *= std::log(1.0 + std::exp(1.0)) / std::log(2.0);
        }
      const Vec relk = ref_plain(f.get(b + "attn_k_rel.weight"), pos, 13, H);
      h = ref_linear(f, b + "attn_out", ref_attention(q, k, v, relk, n, H, heads), n, H);
      ref_clip(h);
      ref_rms_rows(h, H, f.get(b + "attn_post_norm.weight"), 1e-6);
      for (size_t i = 0; i < x.size(); ++i) x[i] += h[i];
    }
    {
      Vec h = x;
      ref_rms_rows(h, H, f.get(b + "conv_norm.weight"), 1e-6);  // the norm before linear_start
      const Vec start = ref_linear(f, b + "conv_pw1", h, n, H);
      Vec glu(static_cast<size_t>(n * H));
      for (int64_t t = 0; t < n; ++t)
        for (int64_t i = 0; i < H; ++i)
          glu[t * H + i] = start[t * 2 * H + i] / (1.0 + std::exp(-start[t * 2 * H + H + i]));
      const Vec dw = f.get(b + "conv_dw.weight");  // [H][K]
      Vec conv(static_cast<size_t>(n * H), 0.0);
      for (int64_t t = 0; t < n; ++t)
        for (int64_t i = 0; i < H; ++i)
          for (int64_t j = 0; j < K; ++j)
            if (t - (K - 1) + j >= 0) conv[t * H + i] += dw[i * K + j] * glu[(t - (K - 1) + j) * H + i];
      ref_clip(conv);
      ref_rms_rows(conv, H, f.get(b + "norm_conv.weight"), 1e-6);  // the norm after the depthwise conv
      for (double& e : conv) e = silu(e);
      const Vec end = ref_linear(f, b + "conv_pw2", conv, n, H);
      for (size_t i = 0; i < x.size(); ++i) x[i] += end[i];
    }
    ref_ffn(f, b, "_1", x, n, H, I);
    ref_clip(x);
    ref_rms_rows(x, H, f.get(b + "ln2.weight"), 1e-6);
  }
  Vec y = ref_plain(f.get("a.pre_encode.out.weight"), x, n, H);
  const Vec bias = f.get("a.pre_encode.out.bias");
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < c.output_dims; ++i) y[t * c.output_dims + i] += bias[i];
  ref_rms_rows(y, c.output_dims, {}, 1e-6);
  return ref_plain(f.get("mm.a.input_projection.weight"), y, n, c.output_dims);
}

TEST(AudioTower, SoftTokensMatchFloat64Reference) {
  const AudioConfig c = small_config();
  test::TempDir dir;
  GeneratorOptions options;
  options.dtype = DType::F32;
  options.seed = 7;
  const std::string path = dir.file("mmproj.gguf");
  write_random_audio_mmproj(c, options, path);
  auto tower = load_audio_tower(path);
  EXPECT_TRUE(tower->config.clipped_linears);
  EXPECT_EQ(tower->config.ffn_size, c.ffn_size);
  ThreadPool pool(2);
  // 40 frames: 10 tokens, all inside one attention window; 101 frames: 26 tokens (odd
  // counts round up in both convolutions) over three 12-query blocks and a full window.
  for (int frames : {40, 101}) {
    SCOPED_TRACE(frames);
    const AudioFeatures features = random_features(frames, 128, 11 + frames);
    const std::vector<float> got = encode_audio(*tower, features, pool);
    ASSERT_EQ(got.size(), static_cast<size_t>(audio_soft_tokens(frames) * c.text_hidden_size));
    test::expect_close(got, reference_tower(path, c, features), 1e-4);
  }
}

TEST(AudioTower, HfFolderGivesTheSameSoftTokens) {
  const AudioConfig c = small_config();
  test::TempDir dir;
  GeneratorOptions options;
  options.dtype = DType::BF16;  // both files hold the same bf16-rounded values
  options.seed = 3;
  write_random_audio_mmproj(c, options, dir.file("mmproj.gguf"));
  write_random_audio_hf(c, options, dir.file("hf"));
  ThreadPool pool(2);
  const AudioFeatures features = random_features(57, 128, 5);
  const std::vector<float> a = encode_audio(*load_audio_tower(dir.file("mmproj.gguf")), features, pool);
  const std::vector<float> b = encode_audio(*load_audio_tower(dir.file("hf")), features, pool);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5 * (1 + std::abs(a[i]))) << i;
  EXPECT_TRUE(has_audio_tower(dir.file("mmproj.gguf")));
  EXPECT_TRUE(has_audio_tower(dir.file("hf")));
  // llama.cpp's converter keeps the convolutions and input_proj_linear in F32.
  auto gguf = GgufFile::open(dir.file("mmproj.gguf"));
  for (const char* name : {"a.conv1d.0.weight", "a.conv1d.1.weight", "a.input_projection.weight", "a.blk.1.conv_dw.weight"})
    EXPECT_EQ(gguf->tensor(name)->view.dtype, DType::F32) << name;
  EXPECT_EQ(gguf->tensor("a.blk.1.attn_q.weight")->view.dtype, DType::BF16);
}

TEST(AudioTower, ManifestFollowsTheConverter) {
  const std::vector<AudioTensorSpec> m = audio_manifest(AudioConfig{});
  auto find = [&](const std::string& gguf) {
    for (const AudioTensorSpec& s : m)
      if (s.gguf_name == gguf) return s;
    ADD_FAILURE() << gguf;
    return AudioTensorSpec{};
  };
  // The light conv norms' GGUF names are swapped against their roles.
  EXPECT_EQ(find("a.blk.4.conv_norm.weight").hf_name, "model.audio_tower.layers.4.lconv1d.pre_layer_norm.weight");
  EXPECT_EQ(find("a.blk.4.norm_conv.weight").hf_name, "model.audio_tower.layers.4.lconv1d.conv_norm.weight");
  const AudioTensorSpec dw = find("a.blk.0.conv_dw.weight");
  EXPECT_EQ(dw.gguf_shape, (std::vector<int64_t>{1024, 5}));
  EXPECT_EQ(dw.hf_shape, (std::vector<int64_t>{1024, 1, 5}));
  EXPECT_EQ(find("a.blk.11.per_dim_scale.weight").hf_name, "model.audio_tower.layers.11.self_attn.per_dim_scale");
  EXPECT_EQ(find("a.blk.2.attn_q.input_max").hf_name, "model.audio_tower.layers.2.self_attn.q_proj.input_max");
  EXPECT_EQ(find("a.input_projection.weight").gguf_shape, (std::vector<int64_t>{1024, 1024}));
  EXPECT_EQ(find("mm.a.input_projection.weight").gguf_shape, (std::vector<int64_t>{1536, 1536}));
  // 10 clipped linears per layer (two per FFN, q, k, v, post, linear_start, linear_end),
  // four clamp scalars each, 12 layers.
  int64_t clamps = 0;
  for (const AudioTensorSpec& s : m)
    clamps += s.role == AudioTensorRole::ClampMin || s.role == AudioTensorRole::ClampMax;
  EXPECT_EQ(clamps, 10 * 4 * 12);
}

TEST(AudioTower, RealE2bShapesLoad) {
  // The generator config reads as the released audio_config; its tower (12 conformer layers
  // of 1024, FFN 4096, channels 128/32) and E2B's text width load from an mmproj GGUF.
  std::ifstream in(test::source_dir() + "/models/configs/gemma-4-e2b-audio.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  const AudioConfig c = AudioConfig::from_hf_json(j, j["text_hidden_size"].get<int>(), "gemma-4-e2b-audio.json");
  EXPECT_EQ(c.hidden_size, 1024);
  EXPECT_EQ(c.head_dim, 128);
  EXPECT_EQ(c.ffn_size, 4096);
  EXPECT_EQ(c.flattened_width(), 1024);
  EXPECT_EQ(c.attention_window(), 12);
  EXPECT_EQ(c.output_dims, 1536);
  test::TempDir dir;
  GeneratorOptions options;
  options.dtype = DType::F16;
  write_random_audio_mmproj(c, options, dir.file("e2b-audio.gguf"));
  auto tower = load_audio_tower(dir.file("e2b-audio.gguf"));
  EXPECT_EQ(tower->config.hidden_size, 1024);
  EXPECT_EQ(tower->config.n_layers, 12);
  EXPECT_EQ(tower->config.n_heads, 8);
  EXPECT_EQ(tower->config.ffn_size, 4096);
  EXPECT_EQ(tower->config.sscp_channels, (std::array<int, 2>{128, 32}));
  EXPECT_EQ(tower->config.conv_kernel, 5);
  EXPECT_EQ(tower->config.text_hidden_size, 1536);
  EXPECT_TRUE(tower->config.clipped_linears);
  ASSERT_EQ(tower->weights.layers.size(), 12u);
  EXPECT_EQ(tower->weights.layers[3].per_dim_scale.size(), 128u);
  EXPECT_TRUE(std::isfinite(tower->weights.layers[3].conv_start.in_hi));
}

TEST(AudioTower, TinyRealvocabConfigMakesAWorkingTower) {
  // The generator config for gemma4-tiny-realvocab-f16.gguf (48 wide) as make-test-model reads it.
  std::ifstream in(test::source_dir() + "/models/configs/tiny-realvocab-audio.json");
  const nlohmann::json j = nlohmann::json::parse(in);
  ASSERT_EQ(j["model_type"], "gemma4_audio");
  const AudioConfig c = AudioConfig::from_hf_json(j, j["text_hidden_size"].get<int>(), "tiny-realvocab-audio.json");
  EXPECT_EQ(c.text_hidden_size, 48);
  test::TempDir dir;
  GeneratorOptions options;
  options.dtype = DType::F16;
  write_random_audio_mmproj(c, options, dir.file("tiny-audio.gguf"));
  ThreadPool pool(2);
  const std::vector<float> tokens = encode_audio(*load_audio_tower(dir.file("tiny-audio.gguf")), random_features(40, 128, 9), pool);
  ASSERT_EQ(tokens.size(), 10u * 48u);
  for (float v : tokens) ASSERT_TRUE(std::isfinite(v));
}

TEST(AudioTower, WrongFilesAreClearErrors) {
  test::TempDir dir;
  // A text model is not a projector.
  const std::string text_model = test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf";
  EXPECT_NE(test::error_of([&] { load_audio_tower(text_model); }).find("not a multimodal projector"), std::string::npos);
  EXPECT_FALSE(has_audio_tower(text_model));
  // A vision-only projector has no audio encoder.
  VisionConfig vision;
  vision.hidden_size = 32;
  vision.n_heads = 4;
  vision.head_dim = 8;
  vision.intermediate_size = 48;
  vision.n_layers = 1;
  vision.position_table_size = 20;
  vision.text_hidden_size = 16;
  write_random_mmproj(vision, GeneratorOptions{}, dir.file("vision.gguf"));
  EXPECT_NE(test::error_of([&] { load_audio_tower(dir.file("vision.gguf")); }).find("no audio encoder"), std::string::npos);
  EXPECT_FALSE(has_audio_tower(dir.file("vision.gguf")));
  // A truncated projector, and no file at all.
  write_random_audio_mmproj(small_config(), GeneratorOptions{}, dir.file("full.gguf"));
  std::vector<uint8_t> bytes = test::read_bytes(dir.file("full.gguf"));
  bytes.resize(bytes.size() / 2);
  test::write_bytes(dir.file("cut.gguf"), bytes);
  EXPECT_FALSE(test::error_of([&] { load_audio_tower(dir.file("cut.gguf")); }).empty());
  EXPECT_NE(test::error_of([&] { load_audio_tower(dir.file("nothing.gguf")); }).find("no such file"), std::string::npos);
  // Features the tower cannot take: wrong bin count, no frames, over 30 s.
  auto tower = load_audio_tower(dir.file("full.gguf"));
  ThreadPool pool(1);
  EXPECT_NE(test::error_of([&] { encode_audio(*tower, random_features(20, 80, 1), pool); }).find("mel bins"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { encode_audio(*tower, AudioFeatures{0, 128, {}}, pool); }).find("no frames"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { encode_audio(*tower, random_features(3001, 128, 1), pool); }).find("split"),
            std::string::npos);
}

}  // namespace
}  // namespace facet
