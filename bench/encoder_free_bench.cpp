// Embedding time of the 12B's encoder-free image and audio embedders (real shapes: 6912 ->
// 3840 -> 3840, a 1120-position table, 640 samples -> 3840; random bf16 weights written once
// to a temporary HF folder): a 1024x768 photo at the default budget of 280 soft tokens
// (912x672 pixels, 19x14 = 266 merged 48-px patches) and at 70; one second of audio (25
// frames of 640 samples).
//   ./build/bench/facet_bench --benchmark_filter=EncoderFree
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>

#include "media/image_preprocess.h"
#include "model/audio.h"
#include "model/vision.h"
#include "util/thread_pool.h"

namespace {

// The 12B's embedders in a temporary folder, removed when the benchmark ends.
struct TemporaryEmbedders {
  std::string dir = (std::filesystem::temp_directory_path() / "facet-bench-encoder-free-12b").string();
  TemporaryEmbedders() {
    facet::GeneratorOptions options;
    options.dtype = facet::DType::BF16;
    const facet::EncoderFreeVisionConfig vision;  // the defaults are the 12B's
    const facet::EncoderFreeAudioConfig audio;
    facet::write_random_encoder_free_hf(&vision, &audio, options, dir);
  }
  ~TemporaryEmbedders() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

void BM_EncoderFree12bImage(benchmark::State& state) {
  TemporaryEmbedders files;
  auto tower = facet::load_vision_tower(files.dir);
  facet::ThreadPool pool(static_cast<int>(state.range(0)));
  facet::RgbImage image{1024, 768, std::vector<uint8_t>(1024 * 768 * 3)};
  uint32_t seed = 1;
  for (uint8_t& v : image.pixels) {
    seed = seed * 1664525u + 1013904223u;
    v = static_cast<uint8_t>(seed >> 24);
  }
  const facet::ImagePatches patches = facet::image_to_patches(image, tower->config.preprocess(static_cast<int>(state.range(1))));
  for (auto _ : state) benchmark::DoNotOptimize(facet::encode_image(*tower, patches, pool));
  state.counters["soft_tokens"] = patches.soft_tokens;
}
BENCHMARK(BM_EncoderFree12bImage)->Args({2, 70})->Args({1, 280})->Args({2, 280})->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_EncoderFree12bAudioOneSecond(benchmark::State& state) {
  TemporaryEmbedders files;
  auto tower = facet::load_audio_tower(files.dir);
  facet::ThreadPool pool(static_cast<int>(state.range(0)));
  facet::AudioClip clip{16000, std::vector<float>(16000)};
  for (size_t i = 0; i < clip.samples.size(); ++i) clip.samples[i] = static_cast<float>(0.5 * std::sin(0.05 * static_cast<double>(i)));
  for (auto _ : state) benchmark::DoNotOptimize(facet::embed_audio_encoder_free(*tower->encoder_free, clip, pool));
}
BENCHMARK(BM_EncoderFree12bAudioOneSecond)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
