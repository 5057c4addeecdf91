// The 12B's encoder-free image and audio embedders (model/encoder_free.h):
//   - soft tokens of random embedders against a float64 reference written here from spec §7
//     and transformers' Gemma4UnifiedVisionEmbedder (LayerNorm -> Linear+bias -> LayerNorm ->
//     + table[x, 0] + table[y, 1] -> LayerNorm -> scale-less RMSNorm -> Linear), reading the
//     safetensors values itself and cutting the 48-px patches from the image's pixels (not
//     from facet's 16-px patches);
//   - the audio embedder against a float64 reference over 640-sample frames (the last one
//     zero-padded), and its 30 s limit;
//   - a whole Gemma4UnifiedForConditionalGeneration folder (tiny decoder + embedders) loads as
//     model, vision tower and audio tower, and is its own projector;
//   - a missing or misshapen tensor and a GGUF output for the embedders are clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "engine/media_prompt.h"
#include "formats/safetensors.h"
#include "media/image_preprocess.h"
#include "model/audio.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "model/vision.h"
#include "support/error_text.h"
#include "support/paths.h"
#include "support/reference_forward.h"
#include "support/run_command.h"
#include "support/temp_dir.h"
#include "support/unified_model.h"
#include "support/tower_reference.h"
#include "tensor/convert.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

using test::Vec;

EncoderFreeVisionConfig small_vision() {
  EncoderFreeVisionConfig c;
  c.embed_dim = 24;
  c.position_table_size = 40;
  c.text_hidden_size = 32;
  c.default_soft_tokens = 70;
  return c;
}

EncoderFreeAudioConfig small_audio() {
  EncoderFreeAudioConfig c;
  c.text_hidden_size = 32;
  return c;
}

GeneratorOptions bf16_options(uint64_t seed) {
  GeneratorOptions o;
  o.dtype = DType::BF16;
  o.seed = seed;
  return o;
}

// A folder's safetensors values as doubles, by HF name.
struct Tensors {
  std::unique_ptr<SafetensorsFile> file;
  Vec get(const std::string& name) const {
    const SafetensorsTensor* t = file->tensor(name);
    EXPECT_NE(t, nullptr) << name;
    if (t == nullptr) return {};
    std::vector<float> f(static_cast<size_t>(t->view.numel()));
    row_to_f32(t->view.dtype, t->view.data, f.data(), t->view.numel());
    return Vec(f.begin(), f.end());
  }
};

void ref_layer_norm(double* x, int64_t n, const Vec& w, const Vec& b, double eps) {
  double mean = 0, var = 0;
  for (int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) x[i] = (x[i] - mean) / std::sqrt(var + eps) * w[i] + b[i];
}

// An image whose pixels vary in both directions and by channel (a fixed LCG adds noise).
RgbImage test_image(int width, int height, uint32_t seed) {
  RgbImage img{width, height, std::vector<uint8_t>(static_cast<size_t>(width) * height * 3)};
  test::Lcg lcg{seed};
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        img.pixels[(static_cast<size_t>(y) * width + x) * 3 + c] =
            static_cast<uint8_t>((x * (3 + c) + y * (5 - c) + lcg.next() % 40) % 256);
  return img;
}

// Spec §7 in doubles on pixels already at the target size (a multiple of 48 each way).
// `swap_axes` looks the table up as (row, column) instead of (column, row): the check that
// the axes matter.
Vec reference_image(const Tensors& t, const EncoderFreeVisionConfig& c, const RgbImage& img, bool swap_axes = false) {
  const std::string p = "model.embed_vision.";
  const int64_t M = c.merged_patch(), V = c.patch_values(), E = c.embed_dim, Ht = c.text_hidden_size;
  const int64_t mrows = img.height / M, mcols = img.width / M, n = mrows * mcols;
  const Vec ln1w = t.get(p + "patch_ln1.weight"), ln1b = t.get(p + "patch_ln1.bias");
  const Vec dense = t.get(p + "patch_dense.weight"), dense_b = t.get(p + "patch_dense.bias");
  const Vec ln2w = t.get(p + "patch_ln2.weight"), ln2b = t.get(p + "patch_ln2.bias");
  const Vec table = t.get(p + "pos_embedding");  // [size][2][E]
  const Vec ln3w = t.get(p + "pos_norm.weight"), ln3b = t.get(p + "pos_norm.bias");
  const Vec proj = t.get(p + "multimodal_embedder.embedding_projection.weight");
  Vec out;
  for (int64_t Y = 0; Y < mrows; ++Y)
    for (int64_t X = 0; X < mcols; ++X) {
      Vec patch(static_cast<size_t>(V));
      for (int64_t py = 0; py < M; ++py)
        for (int64_t px = 0; px < M; ++px)
          for (int64_t ch = 0; ch < 3; ++ch)
            patch[(py * M + px) * 3 + ch] =
                img.pixels[((Y * M + py) * img.width + X * M + px) * 3 + ch] / 255.0;
      ref_layer_norm(patch.data(), V, ln1w, ln1b, 1e-5);
      Vec h = test::ref_plain(dense, patch, 1, V);
      for (int64_t i = 0; i < E; ++i) h[i] += dense_b[i];
      ref_layer_norm(h.data(), E, ln2w, ln2b, 1e-5);
      const int64_t x = swap_axes ? Y : X, y = swap_axes ? X : Y;
      for (int64_t i = 0; i < E; ++i) h[i] += table[(x * 2 + 0) * E + i] + table[(y * 2 + 1) * E + i];
      ref_layer_norm(h.data(), E, ln3w, ln3b, 1e-5);
      test::ref_rms(h.data(), E, nullptr, c.rms_eps);
      const Vec y_out = test::ref_plain(proj, h, 1, E);
      out.insert(out.end(), y_out.begin(), y_out.end());
    }
  EXPECT_EQ(static_cast<int64_t>(out.size()), n * Ht);
  return out;
}

double max_abs_diff(const std::vector<float>& a, const Vec& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  return worst;
}

TEST(EncoderFree, ImageSoftTokensMatchFloat64Reference) {
  test::TempDir dir;
  const EncoderFreeVisionConfig c = small_vision();
  write_random_encoder_free_hf(&c, nullptr, bf16_options(3), dir.path());
  auto tower = load_vision_tower(dir.path());
  ASSERT_NE(tower->encoder_free, nullptr);
  EXPECT_EQ(tower->config.text_hidden_size, 32);
  const Tensors t{SafetensorsFile::open(dir.file("model.safetensors"))};
  ThreadPool pool(2);
  // 100 x 60 at 70 tokens: 480 x 288 pixels, 10 x 6 merged patches (the resize is
  // media_image_preprocess_test's business; here its output is the reference's input).
  const RgbImage img = test_image(100, 60, 1);
  const VisionPreprocessConfig pre = tower->config.preprocess(70);
  const ImageSize size = vision_target_size(img.width, img.height, pre);
  ASSERT_EQ(size.width, 480);
  ASSERT_EQ(size.height, 288);
  const RgbImage resized = resize_bicubic(img, size.width, size.height);
  const std::vector<float> got = encode_image(*tower, image_to_patches(img, pre), pool);
  ASSERT_EQ(got.size(), 60u * 32u);
  const Vec want = reference_image(t, c, resized);
  EXPECT_LE(max_abs_diff(got, want), 1e-4);
  // The position axes matter (x is the column, y the row).
  EXPECT_GT(max_abs_diff(got, reference_image(t, c, resized, /*swap_axes=*/true)), 0.01);
}

TEST(EncoderFree, ImageLargerThanThePositionTableIsAnError) {
  test::TempDir dir;
  EncoderFreeVisionConfig c = small_vision();
  c.position_table_size = 8;
  write_random_encoder_free_hf(&c, nullptr, bf16_options(3), dir.path());
  auto tower = load_vision_tower(dir.path());
  ThreadPool pool(1);
  // 600 x 60 at 70 tokens is a 1-row strip 26 merged patches wide (> 8).
  const RgbImage img = test_image(600, 60, 2);
  const std::string err = test::error_of([&] { encode_image(*tower, image_to_patches(img, tower->config.preprocess(70)), pool); });
  EXPECT_NE(err.find("exceeds the position table of 8"), std::string::npos) << err;
}

// A 16 kHz chirp of `samples` samples.
AudioClip chirp(int64_t samples) {
  AudioClip clip{16000, std::vector<float>(static_cast<size_t>(samples))};
  for (int64_t i = 0; i < samples; ++i) {
    const double s = static_cast<double>(i) / 16000;
    clip.samples[static_cast<size_t>(i)] = static_cast<float>(0.6 * std::sin(2 * M_PI * (200 + 400 * s) * s));
  }
  return clip;
}

// Spec §7 audio in doubles: 640-sample frames (the last one zero-padded), each scale-less
// RMSNorm-ed and projected.
Vec reference_audio(const Tensors& t, const AudioClip& clip) {
  const Vec proj = t.get("model.embed_audio.embedding_projection.weight");
  const int64_t samples = static_cast<int64_t>(clip.samples.size());
  Vec out;
  for (int64_t f = 0; f * 640 < samples; ++f) {
    Vec frame(640, 0.0);
    for (int64_t i = 0; i < 640 && f * 640 + i < samples; ++i) frame[i] = clip.samples[f * 640 + i];
    test::ref_rms(frame.data(), 640, nullptr, 1e-6);
    const Vec y = test::ref_plain(proj, frame, 1, 640);
    out.insert(out.end(), y.begin(), y.end());
  }
  return out;
}

TEST(EncoderFree, AudioSoftTokensMatchFloat64Reference) {
  test::TempDir dir;
  const EncoderFreeAudioConfig c = small_audio();
  write_random_encoder_free_hf(nullptr, &c, bf16_options(4), dir.path());
  auto tower = load_audio_tower(dir.path());
  ASSERT_NE(tower->encoder_free, nullptr);
  const Tensors t{SafetensorsFile::open(dir.file("model.safetensors"))};
  ThreadPool pool(2);
  // 3 whole frames and 100 samples: 4 soft tokens, the last frame zero-padded.
  const AudioClip clip = chirp(3 * 640 + 100);
  const std::vector<float> got = embed_audio_encoder_free(*tower->encoder_free, clip, pool);
  const Vec want = reference_audio(t, clip);
  EXPECT_EQ(want.size(), 4u * 32u);
  EXPECT_LE(max_abs_diff(got, want), 1e-4);
  // The conformer's entry point refuses it (it takes log-mel features).
  const std::string err = test::error_of([&] { encode_audio(*tower, AudioFeatures{1, 128, std::vector<float>(128)}, pool); });
  EXPECT_NE(err.find("reads the waveform"), std::string::npos) << err;
}

TEST(EncoderFree, AudioTokenCountsAndLimits) {
  const EncoderFreeAudioConfig c = small_audio();
  EXPECT_EQ(encoder_free_audio_tokens(1, c), 1);
  EXPECT_EQ(encoder_free_audio_tokens(640, c), 1);
  EXPECT_EQ(encoder_free_audio_tokens(641, c), 2);
  EXPECT_EQ(encoder_free_audio_tokens(16000, c), 25);         // 25 a second
  EXPECT_EQ(encoder_free_audio_tokens(31 * 16000, c), 750);   // cut at 30 s
  test::TempDir dir;
  write_random_encoder_free_hf(nullptr, &c, bf16_options(4), dir.path());
  auto tower = load_audio_tower(dir.path());
  ThreadPool pool(1);
  EXPECT_EQ(embed_audio_encoder_free(*tower->encoder_free, chirp(31 * 16000), pool).size(), 750u * 32u);
  const std::string empty = test::error_of([&] { embed_audio_encoder_free(*tower->encoder_free, chirp(0), pool); });
  EXPECT_NE(empty.find("no samples"), std::string::npos) << empty;
  AudioClip wrong_rate = chirp(1000);
  wrong_rate.sample_rate = 8000;
  const std::string rate = test::error_of([&] { embed_audio_encoder_free(*tower->encoder_free, wrong_rate, pool); });
  EXPECT_NE(rate.find("8000 Hz"), std::string::npos) << rate;
}

TEST(EncoderFree, WholeUnifiedFolderIsModelAndProjector) {
  test::TempDir dir;
  const std::string config = test::tiny_unified_config(dir);
  const auto made = test::run_command(test::facet_bin() + " make-test-model --config " + config + " --out " +
                                      dir.file("unified"));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string folder = dir.file("unified");
  auto model = load_model(folder);
  EXPECT_EQ(model->config.hidden_size, 32);
  EXPECT_TRUE(model->config.bidirectional_images);
  EXPECT_FALSE(model->config.has_ple());
  EXPECT_TRUE(has_vision_tower(folder));
  EXPECT_TRUE(has_audio_tower(folder));
  EXPECT_EQ(default_mmproj_path(folder), folder);
  auto vision = load_vision_tower(folder);
  auto audio = load_audio_tower(folder);
  ASSERT_NE(vision->encoder_free, nullptr);
  ASSERT_NE(audio->encoder_free, nullptr);
  EXPECT_EQ(vision->encoder_free->config.embed_dim, 24);
  EXPECT_EQ(vision->config.default_soft_tokens, 70);
  EXPECT_EQ(audio->encoder_free->config.samples_per_token, 640);
  // Both feed the decoder's width.
  EXPECT_EQ(vision->config.text_hidden_size, model->config.hidden_size);
  EXPECT_EQ(audio->config.text_hidden_size, model->config.hidden_size);

  // The embedders have no GGUF names: a .gguf output is refused with the reason.
  const auto gguf = test::run_command(test::facet_bin() + " make-test-model --config " + config + " --out " +
                                      dir.file("u.gguf"));
  EXPECT_NE(gguf.exit_code, 0);
  EXPECT_NE(gguf.err.find("only in HF folders"), std::string::npos) << gguf.err;
}

// The whole 12B path on a tiny model: an image and a clip through the embedders, their soft
// tokens in a prompt, the decoder's logits (bidirectional within the image) against the
// float64 reference decoder fed the float64 reference embedders' soft tokens.
TEST(EncoderFree, MixedPromptLogitsMatchTheReference) {
  test::TempDir dir;
  GeneratorConfig g = load_generator_config(test::source_dir() + "/models/configs/tiny-unified.json");
  g.options.hf_tokenizer_json = test::data_dir() + "/tokenizer/gemma4-tokenizer.json";  // see unified_model.h
  write_random_gguf(g.model, g.options, dir.file("decoder.gguf"));
  const EncoderFreeVisionConfig vc = small_vision();
  const EncoderFreeAudioConfig ac = small_audio();
  write_random_encoder_free_hf(&vc, &ac, bf16_options(5), dir.file("embedders"));
  auto model = load_model(dir.file("decoder.gguf"));
  ASSERT_TRUE(model->config.bidirectional_images);
  auto vision = load_vision_tower(dir.file("embedders"));
  auto audio = load_audio_tower(dir.file("embedders"));
  const Tensors t{SafetensorsFile::open(dir.file("embedders/model.safetensors"))};
  ThreadPool pool(2);

  const RgbImage img = test_image(100, 60, 6);
  const VisionPreprocessConfig pre = vision->config.preprocess(70);
  const ImageSize size = vision_target_size(img.width, img.height, pre);
  const std::vector<float> image = encode_image(*vision, image_to_patches(img, pre), pool);
  const Vec image_ref = reference_image(t, vc, resize_bicubic(img, size.width, size.height));
  const AudioClip clip = chirp(2 * 640 + 300);
  const std::vector<float> sound = embed_audio_encoder_free(*audio->encoder_free, clip, pool);
  const Vec sound_ref = reference_audio(t, clip);
  const int64_t H = 32, n_image = static_cast<int64_t>(image.size()) / H, n_sound = 3;
  ASSERT_EQ(n_image, 60);
  ASSERT_EQ(static_cast<int64_t>(sound.size()), n_sound * H);

  // <bos> text <|image> 60 x <|image|> <image|> text <|audio> 3 x <|audio|> <audio|> text
  std::vector<int32_t> tokens = {2, 1000, 2000, 255999};
  const int64_t image_first = static_cast<int64_t>(tokens.size());
  tokens.insert(tokens.end(), static_cast<size_t>(n_image), 258880);
  tokens.insert(tokens.end(), {258882, 3000, 256000});
  const int64_t sound_first = static_cast<int64_t>(tokens.size());
  tokens.insert(tokens.end(), static_cast<size_t>(n_sound), 258881);
  tokens.insert(tokens.end(), {258883, 4000, 5000});
  const EmbeddingSpan spans[2] = {{image_first, n_image, image.data(), true}, {sound_first, n_sound, sound.data(), false}};
  std::map<int64_t, std::vector<double>> media;
  for (int64_t i = 0; i < n_image; ++i)
    media[image_first + i] = Vec(image_ref.begin() + i * H, image_ref.begin() + (i + 1) * H);
  for (int64_t i = 0; i < n_sound; ++i)
    media[sound_first + i] = Vec(sound_ref.begin() + i * H, sound_ref.begin() + (i + 1) * H);

  auto file = GgufFile::open(dir.file("decoder.gguf"));
  const test::ReferenceModel reference(*file);
  const auto want = reference.forward(tokens, nullptr, &media, {{image_first, n_image}});
  const auto without = reference.forward(tokens);
  KvCache cache(model->config, static_cast<int64_t>(tokens.size()));
  const std::vector<float> got = forward(*model, cache, tokens, LogitsFor::AllTokens, pool, 512, nullptr,
                                         std::span<const EmbeddingSpan>(spans, 2));
  const int64_t V = model->config.vocab_size;
  double worst = 0, moved = 0;
  for (size_t p = 0; p < tokens.size(); ++p)
    for (int64_t v = 0; v < V; ++v) {
      worst = std::max(worst, std::abs(got[p * V + v] - want[p][v]));
      moved = std::max(moved, std::abs(want[p][v] - without[p][v]));
    }
  EXPECT_LE(worst, 1e-4);
  EXPECT_GT(moved, 0.01);  // the soft tokens really changed the logits
}

// Rewrites config.json's vision_config with `edit` applied.
void edit_vision_config(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
  std::ifstream in(dir + "/config.json");
  nlohmann::json j = nlohmann::json::parse(in);
  edit(j["vision_config"]);
  write_text_file(dir + "/config.json", j.dump(2));
}

TEST(EncoderFree, WrongFilesAreClearErrors) {
  test::TempDir dir;
  const EncoderFreeVisionConfig c = small_vision();
  write_random_encoder_free_hf(&c, nullptr, bf16_options(3), dir.path());
  // A config whose width disagrees with the stored tensors: the misshapen tensor is named.
  edit_vision_config(dir.path(), [](nlohmann::json& v) { v["mm_embed_dim"] = 25; });
  std::string err = test::error_of([&] { load_vision_tower(dir.path()); });
  EXPECT_NE(err.find("model.embed_vision."), std::string::npos) << err;
  // A bad value is named with its key.
  edit_vision_config(dir.path(), [](nlohmann::json& v) { v["mm_embed_dim"] = "wide"; });
  err = test::error_of([&] { load_vision_tower(dir.path()); });
  EXPECT_NE(err.find("vision_config.mm_embed_dim"), std::string::npos) << err;
  // An audio tower asked of a folder without audio_config.
  edit_vision_config(dir.path(), [](nlohmann::json& v) { v["mm_embed_dim"] = 24; });
  EXPECT_NE(load_vision_tower(dir.path())->encoder_free, nullptr);
  err = test::error_of([&] { load_audio_tower(dir.path()); });
  EXPECT_NE(err.find("no audio tower"), std::string::npos) << err;
  // A missing tensor is named.
  test::TempDir other;
  const EncoderFreeAudioConfig audio = small_audio();
  write_random_encoder_free_hf(nullptr, &audio, bf16_options(4), other.path());
  std::filesystem::copy_file(other.file("model.safetensors"), dir.file("model.safetensors"),
                             std::filesystem::copy_options::overwrite_existing);
  err = test::error_of([&] { load_vision_tower(dir.path()); });
  EXPECT_NE(err.find("patch_ln1"), std::string::npos) << err;
}

}  // namespace
}  // namespace facet
