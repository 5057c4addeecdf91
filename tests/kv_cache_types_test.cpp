// KV cache element types (f32 / f16 / bf16 / q8_0 / q4_0, llama.cpp's -ctk / -ctv): the
// cache really stores rows of that type, the logits stay within a stated distance of the
// float64 golden logits, and batching still never changes them (the batch's own keys are
// rounded to the cache type too).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/forward.h"
#include "support/golden_logits.h"
#include "support/paths.h"
#include "tensor/convert.h"
#include "tensor/quant_blocks.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

using test::Golden;
using test::load_golden;

// All logits of the golden tokens run through a fresh cache of `types` in chunks of `chunk`.
std::vector<float> run(const Model& model, const std::vector<int32_t>& tokens, KvCacheTypes types, size_t chunk,
                       ThreadPool& pool) {
  KvCache cache(model.config, 64, 0, types);
  std::vector<float> all;
  for (size_t at = 0; at < tokens.size(); at += chunk) {
    const size_t n = std::min(chunk, tokens.size() - at);
    const std::vector<int32_t> part(tokens.begin() + static_cast<long>(at), tokens.begin() + static_cast<long>(at + n));
    const auto logits = forward(model, cache, part, LogitsFor::AllTokens, pool);
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

double distance_to_golden(const std::vector<float>& logits, const Golden& g, size_t V) {
  double worst = 0;
  auto compare = [&](size_t pos, const std::vector<double>& want) {
    for (size_t i = 0; i < V; ++i)
      worst = std::max(worst, std::abs(static_cast<double>(logits[pos * V + i]) - want[i]));
  };
  for (size_t t = 0; t < g.logits.size(); ++t) compare(t, g.logits[t]);
  if (!g.last_logits.empty()) compare(g.tokens.size() - 1, g.last_logits);
  return worst;
}

struct TypeCase {
  DType type;
  double tolerance;  // max |Δlogit| against the float64 golden logits, stated requirement
};

class KvCacheTypesGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(KvCacheTypesGolden, LogitsStayCloseToTheGoldenAndDoNotDependOnBatching) {
  const std::string name = GetParam();
  auto model = load_model(test::data_dir() + "/models/" + name + ".gguf");
  const Golden g = load_golden(name);
  ThreadPool pool(2);
  const size_t V = static_cast<size_t>(model->config.vocab_size);
  // Measured on the three models (2026-11-28): f32 1.1e-6, f16 4.2e-4, bf16 3.4e-3,
  // q8_0 9.8e-3, q4_0 0.40. f16 does not meet the f32 golden limit of 1e-4, which is why
  // the golden tests run on an f32 cache.
  const std::vector<TypeCase> cases = {
      {DType::F32, 1e-4}, {DType::F16, 1e-3}, {DType::BF16, 1e-2}, {DType::Q8_0, 3e-2}, {DType::Q4_0, 1.0}};
  for (const TypeCase& c : cases) {
    const KvCacheTypes types{c.type, c.type};
    // Token by token every key but the current one comes from the cache: the largest error.
    const auto one_by_one = run(*model, g.tokens, types, 1, pool);
    const auto whole = run(*model, g.tokens, types, 1000, pool);
    const auto chunked = run(*model, g.tokens, types, 5, pool);
    const double worst = distance_to_golden(one_by_one, g, V);
    double batching = 0;
    for (size_t i = 0; i < whole.size(); ++i)
      batching = std::max({batching, static_cast<double>(std::abs(whole[i] - one_by_one[i])),
                           static_cast<double>(std::abs(chunked[i] - one_by_one[i]))});
    std::printf("  %s KV %s: max |delta| vs golden = %.3g, batch vs token-by-token = %.3g\n", name.c_str(),
                kv_cache_type_name(c.type).c_str(), worst, batching);
    EXPECT_LE(worst, c.tolerance) << kv_cache_type_name(c.type);
    EXPECT_LE(batching, 1e-5) << kv_cache_type_name(c.type);
  }
}

INSTANTIATE_TEST_SUITE_P(SharedModels, KvCacheTypesGolden,
                         ::testing::Values("gemma4-tiny-e2b-like-f32", "gemma4-tiny-moe-f32",
                                           "gemma4-tiny-realvocab-f16"));

TEST(KvCacheTypes, RowsAreStoredInTheChosenType) {
  auto model = load_model(test::data_dir() + "/models/gemma4-tiny-moe-f32.gguf");
  ThreadPool pool(1);
  const std::vector<int32_t> tokens = {2, 40, 41, 42, 43};
  KvCache exact(model->config, 16), half(model->config, 16, 0, {DType::F16, DType::F16}),
      mixed(model->config, 16, 0, {DType::Q8_0, DType::F32});
  for (KvCache* cache : {&exact, &half, &mixed}) forward(*model, *cache, tokens, LogitsFor::LastToken, pool);
  const KvCache::Layer& e = exact.layer(0);
  ASSERT_TRUE(e.present);
  const int64_t row = e.row;
  EXPECT_EQ(half.layer(0).k_row_bytes, static_cast<size_t>(row) * 2);
  EXPECT_EQ(mixed.layer(0).k_row_bytes, static_cast<size_t>(row / 32) * sizeof(BlockQ8_0));
  EXPECT_EQ(mixed.layer(0).v_row_bytes, static_cast<size_t>(row) * 4);
  // The first position's K/V do not depend on the cache (nothing came before), so the f16
  // cache holds exactly the f16 rounding of the f32 cache's row; q8_0 keys decode close.
  for (int64_t p = 0; p < 1; ++p) {
    const float* k32 = reinterpret_cast<const float*>(e.k_row(p));
    const float* v32 = reinterpret_cast<const float*>(e.v_row(p));
    const auto* k16 = reinterpret_cast<const uint16_t*>(half.layer(0).k_row(p));
    const auto* v16 = reinterpret_cast<const uint16_t*>(half.layer(0).v_row(p));
    std::vector<float> k8(static_cast<size_t>(row));
    dequantize_row(DType::Q8_0, mixed.layer(0).k_row(p), k8.data(), row);
    float amax = 0;
    for (int64_t i = 0; i < row; ++i) amax = std::max(amax, std::abs(k32[i]));
    for (int64_t i = 0; i < row; ++i) {
      EXPECT_EQ(k16[i], f32_to_f16(k32[i])) << i;
      EXPECT_EQ(v16[i], f32_to_f16(v32[i])) << i;
      EXPECT_NEAR(k8[static_cast<size_t>(i)], k32[i], amax / 127.0f) << i;
    }
  }
  EXPECT_EQ(half.bytes() * 2, exact.bytes());
  EXPECT_EQ(KvCache::planned_bytes(model->config, 16, 0, {DType::F16, DType::F16}), half.bytes());
  EXPECT_EQ(KvCache::planned_bytes(model->config, 16, 0, {DType::Q8_0, DType::F32}), mixed.bytes());
}

TEST(KvCacheTypes, NamesParseAsLlamaCppSpellsThem) {
  EXPECT_EQ(parse_kv_cache_type("f16"), DType::F16);
  EXPECT_EQ(parse_kv_cache_type("F32"), DType::F32);
  EXPECT_EQ(parse_kv_cache_type("q8_0"), DType::Q8_0);
  EXPECT_EQ(parse_kv_cache_type("Q4_0"), DType::Q4_0);
  EXPECT_EQ(parse_kv_cache_type("bf16"), DType::BF16);
  EXPECT_EQ(kv_cache_type_name(DType::Q8_0), "q8_0");
  try {
    parse_kv_cache_type("q5_k");
    FAIL() << "q5_k was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("q8_0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_kv_cache_type(""), Error);
}

TEST(KvCacheTypes, BlockTypesNeedWholeBlocksPerRow) {
  auto model = load_model(test::data_dir() + "/models/gemma4-tiny-moe-f32.gguf");
  ModelConfig narrow = model->config;
  narrow.layers[0].head_dim = 16;  // 2 KV heads x 16 = 32 values: still one block
  EXPECT_NO_THROW(KvCache(narrow, 8, 0, {DType::Q8_0, DType::Q8_0}));
  narrow.layers[0].n_kv_heads = 1;  // 16 values: not a whole block
  EXPECT_THROW(KvCache(narrow, 8, 0, {DType::Q8_0, DType::F16}), Error);
  EXPECT_THROW(KvCache::planned_bytes(narrow, 8, 0, {DType::F16, DType::Q4_0}), Error);
  EXPECT_NO_THROW(KvCache(narrow, 8, 0, {DType::F16, DType::F16}));
}

}  // namespace
}  // namespace facet
