// matmul() throughput per weight type at Gemma 4 E2B shapes, for decode (1 token: memory
// bound, read GB/s of weights) and prefill (512 tokens: compute bound, FLOP/s).
//   ./build/bench/facet_bench --benchmark_filter=Matmul
// Names: Matmul/<type>/<rows>x<cols>/threads:<1|2>/<tokens>; counters: weight GB/s and GFLOP/s.
// MatmulPacked/...: the same products from the copy packed at load (kernels/packed_weights.h),
// as run/chat/serve/bench use them, for the types and CPUs that have one.
// threads:2 is timed by the wall clock; threads:1 by the thread's CPU time, which a busy
// shared machine distorts much less (its counters are per CPU-second).
#include <benchmark/benchmark.h>
#include <hwy/targets.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <memory>
#include <random>
#include <vector>

#include "kernels/attention_rows.h"
#include "kernels/matmul.h"
#include "kernels/matmul_simd.h"
#include "kernels/packed_weights.h"
#include "tensor/convert.h"
#include "util/thread_pool.h"

namespace {

using facet::DType;

// Weights of a type and shape, made once: a 64-row random tile repeated (contents don't
// change the speed; quantizing 400M values for the output head would).
const std::vector<uint8_t>& weights(DType dtype, int64_t rows, int64_t cols) {
  static std::map<std::tuple<DType, int64_t, int64_t>, std::unique_ptr<std::vector<uint8_t>>> cache;
  auto& slot = cache[{dtype, rows, cols}];
  if (!slot) {
    constexpr int64_t kTile = 64;
    std::mt19937 rng(1);
    std::normal_distribution<float> dist(0.0f, 0.05f);
    const size_t row_bytes = facet::dtype_row_bytes(dtype, cols);
    std::vector<uint8_t> tile(row_bytes * kTile);
    std::vector<float> values(static_cast<size_t>(cols));
    for (int64_t r = 0; r < kTile; ++r) {
      for (float& v : values) v = dist(rng);
      facet::row_from_f32(dtype, values.data(), tile.data() + static_cast<size_t>(r) * row_bytes, cols);
    }
    slot = std::make_unique<std::vector<uint8_t>>(row_bytes * static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; r += kTile) {
      const int64_t n = std::min(kTile, rows - r);
      std::copy(tile.begin(), tile.begin() + static_cast<long>(row_bytes * static_cast<size_t>(n)),
                slot->begin() + static_cast<long>(row_bytes * static_cast<size_t>(r)));
    }
  }
  return *slot;
}

facet::ThreadPool& pool() {
  static facet::ThreadPool instance(2);
  return instance;
}

// The packed copy of weights(dtype, rows, cols), 64-byte aligned; null where none is made.
const uint8_t* packed_weights(const facet::WeightMatrix& w) {
  static std::map<std::tuple<DType, int64_t, int64_t>, std::unique_ptr<std::vector<uint8_t>>> cache;
  const size_t bytes = facet::packed_bytes(w);
  if (bytes == 0) return nullptr;
  auto& slot = cache[{w.dtype, w.rows, w.cols}];
  if (!slot) slot = std::make_unique<std::vector<uint8_t>>(bytes + 64);
  uint8_t* at = slot->data() + (64 - reinterpret_cast<uintptr_t>(slot->data()) % 64) % 64;
  facet::pack_weights(w, at);
  return at;
}

void BM_Matmul(benchmark::State& state, DType dtype, int64_t rows, int64_t cols, int threads, bool packed) {
  const int64_t tokens = state.range(0);
  const auto& w_bytes = weights(dtype, rows, cols);
  facet::WeightMatrix w{dtype, w_bytes.data(), rows, cols};
  if (packed) {
    w.packed = packed_weights(w);
    if (w.packed == nullptr) {
      state.SkipWithError("no packed layout for this type on this CPU");
      return;
    }
  }
  std::mt19937 rng(2);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(tokens * cols)), y(static_cast<size_t>(tokens * rows));
  for (float& v : x) v = dist(rng);
  for (auto _ : state) {
    facet::matmul(w, x.data(), tokens, y.data(), threads > 1 ? &pool() : nullptr);
    benchmark::DoNotOptimize(y.data());
  }
  const double bytes = static_cast<double>(w_bytes.size());
  state.counters["weight_GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(rows * cols * tokens) / 1e9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(facet::matmul_simd_target());
}

// E2B: hidden 1536, FFN 6144, 8 query heads of 256, vocab 262144 (tied output head).
// The output head runs once per sequence and step, so it has no prefill case; instead a
// 16-token case: `facet serve` decoding 16 sequences at once runs one head product for all
// of them, which should cost far less than 16 single-token products.
struct ShapeSpec {
  int64_t rows, cols;
  bool prefill;
};
constexpr ShapeSpec kShapes[] = {{6144, 1536, true}, {1536, 6144, true}, {2048, 1536, true}, {262144, 1536, false}};
constexpr int64_t kOutputHeadRows = 262144, kServingBatch = 16;
constexpr DType kTypes[] = {DType::F32,  DType::F16,  DType::BF16, DType::Q8_0,
                             DType::Q4_0, DType::Q4_K, DType::Q6_K, DType::NF4};

// FACET_BENCH_SIMD=AVX2 (or AVX3, AVX3_DL, ...: Highway's target names) runs every kernel on
// that target, so one AVX-512 machine also times the paths of older CPUs. An unknown or
// unsupported name is an error, not a silent run on the default target.
void select_simd_target() {
  const char* wanted = std::getenv("FACET_BENCH_SIMD");
  if (wanted == nullptr || *wanted == '\0') return;
  for (int64_t target : facet::matmul_simd_targets())
    if (std::string(hwy::TargetName(target)) == wanted) {
      hwy::SetSupportedTargetsForTest(target);
      return;
    }
  std::fprintf(stderr, "FACET_BENCH_SIMD=%s: not a SIMD target this build has and this CPU runs\n", wanted);
  std::exit(2);
}

const bool kRegistered = [] {
  select_simd_target();
  for (bool packed : {false, true})
  for (DType dtype : kTypes)
    for (const ShapeSpec& s : kShapes)
      for (int threads : {1, 2}) {
        if (packed && !facet::matmul_reads_packed_weights(dtype)) continue;
        const std::string name = std::string(packed ? "MatmulPacked/" : "Matmul/") + std::string(facet::dtype_name(dtype)) + "/" +
                                 std::to_string(s.rows) + "x" + std::to_string(s.cols) + "/threads:" + std::to_string(threads);
        auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_Matmul, dtype, s.rows, s.cols, threads, packed);
        // 5: a speculative-decoding check of 4 drafted tokens and the one before them.
        b->Arg(1)->Arg(5)->Unit(benchmark::kMillisecond);
        if (threads > 1) b->UseRealTime();
        if (s.prefill) b->Arg(512);
        if (s.rows == kOutputHeadRows) b->Arg(kServingBatch);
      }
  return true;
}();

}  // namespace

namespace {

// Training's backward product through a frozen weight, one block of 64 f32 rows (the unit
// src/train/lora.cpp converts and passes on): dx[512, cols] += dy[512, 64] · W[64, cols].
void BM_AccumulateTransposed(benchmark::State& state) {
  const int64_t rows = 64, cols = state.range(0), tokens = 512;
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(rows * cols)), dy(static_cast<size_t>(tokens * rows)),
      dx(static_cast<size_t>(tokens * cols), 0.0f);
  for (float& v : w) v = dist(rng);
  for (float& v : dy) v = dist(rng);
  for (auto _ : state) {
    facet::accumulate_transposed(w.data(), rows, cols, dy.data(), rows, tokens, dx.data(), cols);
    benchmark::DoNotOptimize(dx.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * static_cast<double>(rows * cols * tokens) / 1e9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_AccumulateTransposed)->Name("AccumulateTransposed/64xN/512tokens")->Arg(1536)->Arg(6144)->Unit(benchmark::kMillisecond);

}  // namespace

namespace {

// The 8 query heads of one KV head (E2B) attending over `keys` cached rows of head width
// 256: scores, then the probability-weighted sum of values. The group kernels (each K/V row
// read once for 4 heads, 4 dot products in flight) against the one-head, one-row loops they
// replaced (identical results; the difference is speed).
//   ./build/bench/facet_bench --benchmark_filter=AttentionGroup
void BM_AttentionGroup(benchmark::State& state, bool group_kernels) {
  constexpr int kHeads = 8;
  const int64_t keys = state.range(0), D = 256, stride = 256;
  std::mt19937 rng(4);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(kHeads * D)), k(static_cast<size_t>(keys * stride)), v(k.size()),
      scores(static_cast<size_t>(kHeads * keys)), out(static_cast<size_t>(kHeads * D));
  for (float& x : q) x = dist(rng);
  for (float& x : k) x = dist(rng);
  for (float& x : v) x = dist(rng);
  for (auto _ : state) {
    std::fill(out.begin(), out.end(), 0.0f);
    if (group_kernels) {
      for (int h0 = 0; h0 < kHeads; h0 += 4) {  // as attention_block's jobs: 4 heads each
        float* s = &scores[static_cast<size_t>(h0 * keys)];
        facet::dot_f32_queries(&q[static_cast<size_t>(h0 * D)], D, 4, k.data(), stride, keys, D, s, keys);
        facet::accumulate_weighted_rows(s, keys, 4, v.data(), stride, keys, D, &out[static_cast<size_t>(h0 * D)], D);
      }
    } else {
      for (int h = 0; h < kHeads; ++h) {
        const float* qh = &q[static_cast<size_t>(h * D)];
        float* sh = &scores[static_cast<size_t>(h * keys)];
        float* oh = &out[static_cast<size_t>(h * D)];
        for (int64_t i = 0; i < keys; ++i) sh[i] = facet::dot_f32(qh, &k[static_cast<size_t>(i * stride)], D);
        for (int64_t i = 0; i < keys; ++i)
          for (int64_t d = 0; d < D; ++d) oh[d] += sh[i] * v[static_cast<size_t>(i * stride + d)];
      }
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GFLOP/s"] = benchmark::Counter(4.0 * static_cast<double>(kHeads * keys * D) / 1e9,
                                                  benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK_CAPTURE(BM_AttentionGroup, one_head_one_row, false)->Name("AttentionGroup/one_head_one_row")->Arg(512)->Arg(4096);
BENCHMARK_CAPTURE(BM_AttentionGroup, group_kernels, true)->Name("AttentionGroup/group_kernels")->Arg(512)->Arg(4096);

}  // namespace
