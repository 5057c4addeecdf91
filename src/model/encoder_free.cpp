// Gemma 4 12B's encoder-free image and audio embedders: configuration, tensor names,
// loading and the forward pass (see encoder_free.h).
#include "model/encoder_free.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "kernels/elementwise.h"
#include "model/config_files.h"
#include "model/manifest_hf_source.h"
#include "model/tower_ops.h"
#include "util/error.h"

namespace facet {
namespace {

using nlohmann::json;

const std::string kVision = "model.embed_vision.";
const std::string kAudio = "model.embed_audio.";

// An integer key of a media config (fallback when absent), checked as a dimension.
int config_int(const json& j, const char* object, const char* key, int fallback, const std::string& source) {
  if (!j.contains(key)) return fallback;
  require(j[key].is_number_integer(), source, ": ", object, ".", key, " must be an integer");
  return config_dimension(j[key].get<int64_t>(), source, std::string(object) + "." + key);
}

double config_real(const json& j, const char* object, const char* key, double fallback, const std::string& source) {
  if (!j.contains(key)) return fallback;
  require(j[key].is_number(), source, ": ", object, ".", key, " must be a number");
  return j[key].get<double>();
}

// In-place LayerNorm of one row: (x - mean) / sqrt(var + eps) * w + b (biased variance, as PyTorch).
void layer_norm(float* x, int64_t n, const std::vector<float>& w, const std::vector<float>& b, double eps) {
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const double inv = 1.0 / std::sqrt(sq / static_cast<double>(n) + eps);
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<float>((x[i] - mean) * inv) * w[i] + b[i];
}

std::unique_ptr<WeightSource> open_source(const std::string& dir, const std::vector<EncoderFreeTensorSpec>& manifest) {
  return std::make_unique<ManifestHfSource>(SafetensorsSet::open(dir), tensor_name_pairs(manifest));
}

}  // namespace

void EncoderFreeVisionConfig::validate(const std::string& source) const {
  require(patch_size > 0 && patch_size <= 64 && pooling_kernel > 0 && pooling_kernel <= 8, source,
          ": vision patch size ", patch_size, " / pooling kernel ", pooling_kernel, " out of range");
  require(embed_dim > 0 && text_hidden_size > 0 && position_table_size > 0, source,
          ": vision mm_embed_dim, mm_posemb_size and the text width must be positive");
  require(rms_eps > 0 && layer_norm_eps > 0, source, ": vision norm eps must be positive");
}

EncoderFreeVisionConfig EncoderFreeVisionConfig::from_hf_json(const json& v, int text_hidden_size,
                                                              const std::string& source) {
  require(v.is_object(), source, ": vision_config must be an object");
  EncoderFreeVisionConfig c;
  c.patch_size = config_int(v, "vision_config", "patch_size", c.patch_size, source);
  c.pooling_kernel = config_int(v, "vision_config", "pooling_kernel_size", c.pooling_kernel, source);
  c.embed_dim = config_int(v, "vision_config", "mm_embed_dim", c.embed_dim, source);
  c.position_table_size = config_int(v, "vision_config", "mm_posemb_size", c.position_table_size, source);
  c.default_soft_tokens = config_int(v, "vision_config", "default_output_length", c.default_soft_tokens, source);
  c.rms_eps = config_real(v, "vision_config", "rms_norm_eps", c.rms_eps, source);
  c.text_hidden_size = text_hidden_size;
  c.validate(source);
  return c;
}

void EncoderFreeAudioConfig::validate(const std::string& source) const {
  require(samples_per_token > 0 && samples_per_token <= 1 << 16, source, ": audio_config.audio_embed_dim ",
          samples_per_token, " out of range");
  require(sample_rate > 0 && max_tokens > 0 && text_hidden_size > 0 && rms_eps > 0, source,
          ": audio sample rate, token limit, text width and eps must be positive");
}

EncoderFreeAudioConfig EncoderFreeAudioConfig::from_hf_json(const json& a, int text_hidden_size,
                                                            const std::string& source) {
  require(a.is_object(), source, ": audio_config must be an object");
  EncoderFreeAudioConfig c;
  c.samples_per_token = config_int(a, "audio_config", "audio_embed_dim", c.samples_per_token, source);
  c.rms_eps = config_real(a, "audio_config", "rms_norm_eps", c.rms_eps, source);
  c.text_hidden_size = text_hidden_size;
  c.validate(source);
  return c;
}

bool is_encoder_free_vision_config(const json& v) {
  if (!v.is_object()) return false;
  if (v.contains("model_type") && v["model_type"].is_string()) return v["model_type"] == "gemma4_unified_vision";
  return v.contains("mm_embed_dim");
}

bool is_encoder_free_audio_config(const json& a) {
  if (!a.is_object()) return false;
  if (a.contains("model_type") && a["model_type"].is_string()) return a["model_type"] == "gemma4_unified_audio";
  return a.contains("audio_embed_dim");
}

std::vector<EncoderFreeTensorSpec> encoder_free_vision_manifest(const EncoderFreeVisionConfig& c) {
  using R = EncoderFreeTensorRole;
  std::vector<EncoderFreeTensorSpec> out;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, R role) {
    out.push_back({kVision + name, kVision + name, shape, shape, role});
  };
  const int64_t P = c.patch_values(), E = c.embed_dim;
  add("patch_ln1.weight", {P}, R::NormWeight);
  add("patch_ln1.bias", {P}, R::NormBias);
  add("patch_dense.weight", {E, P}, R::Matrix);
  add("patch_dense.bias", {E}, R::Bias);
  add("patch_ln2.weight", {E}, R::NormWeight);
  add("patch_ln2.bias", {E}, R::NormBias);
  add("pos_embedding", {c.position_table_size, 2, E}, R::PositionTable);
  add("pos_norm.weight", {E}, R::NormWeight);
  add("pos_norm.bias", {E}, R::NormBias);
  add("multimodal_embedder.embedding_projection.weight", {c.text_hidden_size, E}, R::Matrix);
  return out;
}

std::vector<EncoderFreeTensorSpec> encoder_free_audio_manifest(const EncoderFreeAudioConfig& c) {
  const std::string name = kAudio + "embedding_projection.weight";
  const std::vector<int64_t> shape = {c.text_hidden_size, c.samples_per_token};
  return {{name, name, shape, shape, EncoderFreeTensorRole::Matrix}};
}

std::unique_ptr<EncoderFreeVision> load_encoder_free_vision(const std::string& dir, const json& vision_config,
                                                            int text_hidden_size, const std::string& config_path) {
  auto e = std::make_unique<EncoderFreeVision>();
  e->config = EncoderFreeVisionConfig::from_hf_json(vision_config, text_hidden_size, config_path);
  const std::vector<EncoderFreeTensorSpec> manifest = encoder_free_vision_manifest(e->config);
  e->source = open_source(dir, manifest);
  const TowerBinder bind(manifest, *e->source, dir);
  e->ln1_weight = bind.vector(kVision + "patch_ln1.weight");
  e->ln1_bias = bind.vector(kVision + "patch_ln1.bias");
  e->dense = bind.matrix(kVision + "patch_dense.weight");
  e->dense_bias = bind.vector(kVision + "patch_dense.bias");
  e->ln2_weight = bind.vector(kVision + "patch_ln2.weight");
  e->ln2_bias = bind.vector(kVision + "patch_ln2.bias");
  e->position_table = bind.vector(kVision + "pos_embedding");
  e->pos_norm_weight = bind.vector(kVision + "pos_norm.weight");
  e->pos_norm_bias = bind.vector(kVision + "pos_norm.bias");
  e->projection = bind.matrix(kVision + "multimodal_embedder.embedding_projection.weight");
  return e;
}

std::unique_ptr<EncoderFreeAudio> load_encoder_free_audio(const std::string& dir, const json& audio_config,
                                                          int text_hidden_size, const std::string& config_path) {
  auto e = std::make_unique<EncoderFreeAudio>();
  e->config = EncoderFreeAudioConfig::from_hf_json(audio_config, text_hidden_size, config_path);
  const std::vector<EncoderFreeTensorSpec> manifest = encoder_free_audio_manifest(e->config);
  e->source = open_source(dir, manifest);
  const TowerBinder bind(manifest, *e->source, dir);
  e->projection = bind.matrix(kAudio + "embedding_projection.weight");
  return e;
}

std::vector<float> embed_image_encoder_free(const EncoderFreeVision& e, const ImagePatches& patches, ThreadPool& pool) {
  const EncoderFreeVisionConfig& c = e.config;
  const int64_t k = c.pooling_kernel, P = c.patch_size, M = c.merged_patch(), E = c.embed_dim;
  const int64_t small_values = 3 * P * P, values = c.patch_values();
  const int rows = patches.patch_rows, cols = patches.patch_cols;
  require(rows > 0 && cols > 0 && rows % k == 0 && cols % k == 0, "image patches: a ", rows, "x", cols,
          " grid does not merge into ", k, "x", k, " groups");
  require(static_cast<int64_t>(patches.values.size()) == static_cast<int64_t>(rows) * cols * small_values,
          "image patches: expected ", static_cast<int64_t>(rows) * cols * small_values, " values, found ",
          patches.values.size());
  const int64_t mrows = rows / k, mcols = cols / k, n = mrows * mcols;
  require(mrows <= c.position_table_size && mcols <= c.position_table_size, "image patches: a ", mrows, "x", mcols,
          " grid of merged patches exceeds the position table of ", c.position_table_size);

  // Merge: merged patch (Y, X) holds the M x M pixels of patches (Y*k + ky, X*k + kx), in
  // (row, column, channel) order over the merged patch.
  std::vector<float> x(static_cast<size_t>(n * values));
  for (int64_t t = 0; t < n; ++t) {
    const int64_t Y = t / mcols, X = t % mcols;
    float* dst = x.data() + t * values;
    for (int64_t ky = 0; ky < k; ++ky)
      for (int64_t kx = 0; kx < k; ++kx) {
        const float* src = patches.values.data() + ((Y * k + ky) * cols + (X * k + kx)) * small_values;
        for (int64_t py = 0; py < P; ++py)
          std::copy(src + py * P * 3, src + (py + 1) * P * 3, dst + ((ky * P + py) * M + kx * P) * 3);
      }
    layer_norm(dst, values, e.ln1_weight, e.ln1_bias, c.layer_norm_eps);
  }

  std::vector<float> h(static_cast<size_t>(n * E));
  matmul(e.dense, x.data(), n, h.data(), &pool);
  for (int64_t t = 0; t < n; ++t) {
    float* row = h.data() + t * E;
    for (int64_t i = 0; i < E; ++i) row[i] += e.dense_bias[static_cast<size_t>(i)];
    layer_norm(row, E, e.ln2_weight, e.ln2_bias, c.layer_norm_eps);
    const float* px = e.position_table.data() + ((t % mcols) * 2 + 0) * E;  // x = column
    const float* py = e.position_table.data() + ((t / mcols) * 2 + 1) * E;  // y = row
    for (int64_t i = 0; i < E; ++i) row[i] += px[i] + py[i];
    layer_norm(row, E, e.pos_norm_weight, e.pos_norm_bias, c.layer_norm_eps);
    rms_norm(row, nullptr, E, c.rms_eps, row);
  }

  std::vector<float> out(static_cast<size_t>(n * c.text_hidden_size));
  matmul(e.projection, h.data(), n, out.data(), &pool);
  return out;
}

int encoder_free_audio_tokens(int64_t samples, const EncoderFreeAudioConfig& c) {
  const int64_t tokens = (std::max<int64_t>(samples, 0) + c.samples_per_token - 1) / c.samples_per_token;
  return static_cast<int>(std::min<int64_t>(tokens, c.max_tokens));
}

std::vector<float> embed_audio_encoder_free(const EncoderFreeAudio& e, const AudioClip& clip, ThreadPool& pool) {
  const EncoderFreeAudioConfig& c = e.config;
  require(clip.sample_rate == c.sample_rate, "encoder-free audio: the clip is at ", clip.sample_rate,
          " Hz, the embedder takes ", c.sample_rate, " Hz");
  const int64_t n = encoder_free_audio_tokens(static_cast<int64_t>(clip.samples.size()), c);
  require(n > 0, "encoder-free audio: the clip has no samples");
  const int64_t S = c.samples_per_token;
  const int64_t used = std::min<int64_t>(static_cast<int64_t>(clip.samples.size()), n * S);
  std::vector<float> frames(static_cast<size_t>(n * S), 0.0f);  // the last frame's tail stays 0
  std::copy(clip.samples.begin(), clip.samples.begin() + used, frames.begin());
  for (int64_t t = 0; t < n; ++t) rms_norm(frames.data() + t * S, nullptr, S, c.rms_eps, frames.data() + t * S);
  std::vector<float> out(static_cast<size_t>(n * c.text_hidden_size));
  matmul(e.projection, frames.data(), n, out.data(), &pool);
  return out;
}

}  // namespace facet
