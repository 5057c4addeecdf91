// Encode time of the E2B-shaped vision tower (random bf16 weights, written once to a
// temporary mmproj GGUF) per image: a 1024x768 photo at the default budget of 280 soft
// tokens becomes 912x672 pixels, 57x42 = 2394 patches, 266 soft tokens (the counters give
// each case's patches and soft tokens); also the 70-token budget.
//   ./build/bench/facet_bench --benchmark_filter=VisionTower
#include <benchmark/benchmark.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "media/image_preprocess.h"
#include "model/vision.h"
#include "util/thread_pool.h"

namespace {

void BM_VisionTowerE2bImage(benchmark::State& state) {
  namespace fs = std::filesystem;
  const std::string path = (fs::temp_directory_path() / "facet-bench-vision-e2b.gguf").string();
  facet::GeneratorOptions options;
  options.dtype = facet::DType::BF16;
  facet::write_random_mmproj(facet::VisionConfig{}, options, path);
  auto tower = facet::load_vision_tower(path);
  facet::ThreadPool pool(static_cast<int>(state.range(0)));
  facet::RgbImage image;
  image.width = 1024;
  image.height = 768;
  image.pixels.resize(1024 * 768 * 3);
  uint32_t seed = 1;
  for (uint8_t& v : image.pixels) {
    seed = seed * 1664525u + 1013904223u;
    v = static_cast<uint8_t>(seed >> 24);
  }
  const facet::ImagePatches patches = facet::image_to_patches(image, tower->config.preprocess(static_cast<int>(state.range(1))));
  for (auto _ : state) benchmark::DoNotOptimize(facet::encode_image(*tower, patches, pool));
  state.counters["patches"] = patches.patch_rows * patches.patch_cols;
  state.counters["soft_tokens"] = patches.soft_tokens;
  tower.reset();
  std::error_code ec;
  fs::remove(path, ec);
}
BENCHMARK(BM_VisionTowerE2bImage)
    ->Args({2, 70})
    ->Args({1, 280})
    ->Args({2, 280})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
