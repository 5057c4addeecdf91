// The decoder's attention has two paths that must agree bit for bit: a prompt chunk of more
// than 16 tokens attends in blocks of tokens over its whole window (attend_token_block), and
// a generated token attends alone, reading the cache as stored (attend_spans). So a
// continuation fed as one chunk and fed token by token gives the same logits, to the bit,
// on every shared model (sliding windows shorter than the context) and for every KV cache
// type; the matrix products promise the same (a token's result does not depend on its
// batch).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

#include "model/forward.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "support/paths.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

std::vector<int32_t> random_tokens(const ModelConfig& c, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  const int32_t limit = c.has_ple() ? std::min(c.vocab_size, c.ple_vocab) : c.vocab_size;
  std::uniform_int_distribution<int32_t> pick(0, limit - 1);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int32_t& x : t) x = pick(rng);
  return t;
}

TEST(ForwardAttentionPaths, AChunkAndTokenByTokenGiveTheSameLogitsBitForBit) {
  ThreadPool pool(2);
  for (const char* name : {"gemma4-tiny-e2b-like-f32", "gemma4-tiny-realvocab-f16", "gemma4-tiny-moe-f32"}) {
    auto model = load_model(test::data_dir() + "/models/" + name + ".gguf");
    const ModelConfig& c = model->config;
    const std::vector<int32_t> context = random_tokens(c, 40, 1), more = random_tokens(c, 30, 2);
    for (DType type : {DType::F32, DType::F16, DType::Q8_0}) {
      const KvCacheTypes types{type, type};
      KvCache chunked(c, 128, 0, types), stepped(c, 128, 0, types);
      forward(*model, chunked, context, LogitsFor::LastToken, pool);
      forward(*model, stepped, context, LogitsFor::LastToken, pool);
      const std::vector<float> all = forward(*model, chunked, more, LogitsFor::AllTokens, pool);
      ASSERT_EQ(all.size(), more.size() * static_cast<size_t>(c.vocab_size));
      for (size_t t = 0; t < more.size(); ++t) {
        const std::vector<float> one = forward(*model, stepped, {more[t]}, LogitsFor::LastToken, pool);
        ASSERT_EQ(std::memcmp(one.data(), &all[t * static_cast<size_t>(c.vocab_size)], one.size() * sizeof(float)), 0)
            << name << " cache " << kv_cache_type_name(type) << " token " << t;
      }
    }
  }
}

}  // namespace
}  // namespace facet
