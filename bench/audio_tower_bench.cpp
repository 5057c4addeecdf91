// Encode time of the E2B-shaped audio tower (random bf16 weights, written once to a temporary
// mmproj GGUF of about 600 MB) per second of audio: 99 feature frames -> 25 soft tokens.
//   ./build/bench/facet_bench --benchmark_filter=AudioTower
#include <benchmark/benchmark.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "model/audio.h"
#include "util/thread_pool.h"

namespace {

void BM_AudioTowerE2bOneSecond(benchmark::State& state) {
  namespace fs = std::filesystem;
  const std::string path = (fs::temp_directory_path() / "facet-bench-audio-e2b.gguf").string();
  facet::GeneratorOptions options;
  options.dtype = facet::DType::BF16;
  facet::write_random_audio_mmproj(facet::AudioConfig{}, options, path);
  auto tower = facet::load_audio_tower(path);
  facet::ThreadPool pool(static_cast<int>(state.range(0)));
  facet::AudioFeatures features;
  features.frames = 99;  // 1 s at a 10 ms hop
  features.mel_bins = 128;
  features.values.resize(99 * 128);
  uint32_t seed = 1;
  for (float& v : features.values) {
    seed = seed * 1664525u + 1013904223u;
    v = -7.0f + 10.0f * static_cast<float>((seed >> 8) % 10000) / 10000.0f;
  }
  for (auto _ : state) benchmark::DoNotOptimize(facet::encode_audio(*tower, features, pool));
  state.counters["soft_tokens"] = 25;
  tower.reset();
  std::error_code ec;
  fs::remove(path, ec);
}
BENCHMARK(BM_AudioTowerE2bOneSecond)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
