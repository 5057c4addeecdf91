// Soft tokens (images, audio) in prompts (forward.h EmbeddingSpan, generation.h PromptMedia,
// engine/media_prompt.h):
//   - logits with soft tokens in the prompt against the float64 reference of the decoder,
//     which embeds such positions as the pad token and takes their rows as they are (spec
//     §9.3, §4.2), on a model with per-layer embeddings; a span split over micro-batches
//     gives the same logits;
//   - the prefix cache keeps what it can: the same image again reuses the prompt, another
//     image with the same placeholder tokens does not, and the logits equal a fresh run's;
//   - placeholders expand to <|image> + N × <|image|> + <image|> with the real tokenizer;
//     miscounted images and misfit rows are clear errors.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/generation.h"
#include "engine/media_prompt.h"
#include "engine/model_files.h"
#include "model/forward.h"
#include "model/random_model.h"
#include "support/error_text.h"
#include "support/paths.h"
#include "support/soft_tokens.h"
#include "support/reference_forward.h"
#include "support/temp_dir.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

std::string e2b_like() { return test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf"; }

using test::random_soft_tokens;
using Logits = std::vector<std::vector<double>>;

// forward() over `tokens` with `spans` in micro-batches of each size gives the reference's
// logits `want` (within 1e-4); `other` (the reference without what is being tested) differs
// from `want` by more than `min_moved` somewhere, so the check can fail.
void expect_reference_logits(const Model& model, const std::vector<int32_t>& tokens,
                             std::span<const EmbeddingSpan> spans, const Logits& want, const Logits& other,
                             double min_moved, std::initializer_list<int64_t> max_batches) {
  const int64_t V = model.config.vocab_size;
  ThreadPool pool(2);
  for (int64_t max_batch : max_batches) {
    KvCache cache(model.config, 32);
    const std::vector<float> got =
        forward(model, cache, tokens, LogitsFor::AllTokens, pool, max_batch, nullptr, spans);
    double worst = 0, moved = 0;
    for (size_t t = 0; t < tokens.size(); ++t)
      for (int64_t v = 0; v < V; ++v) {
        worst = std::max(worst, std::abs(got[t * V + v] - want[t][v]));
        moved = std::max(moved, std::abs(want[t][v] - other[t][v]));
      }
    EXPECT_LE(worst, 1e-4) << "max_batch " << max_batch;
    EXPECT_GT(moved, min_moved);
  }
}

TEST(MediaPrompt, SoftTokensMatchTheFloat64Reference) {
  auto model = load_model(e2b_like());
  const int64_t H = model->config.hidden_size;
  ASSERT_TRUE(model->config.has_ple());  // the pad-row rule of the per-layer embeddings is exercised
  // A mixed prompt: text, an "image" of 4 soft tokens, text, an "audio clip" of 2, text.
  const std::vector<int32_t> tokens = {2, 17, 40, 99, 99, 99, 99, 41, 5, 98, 98, 23, 6};
  const std::vector<float> image = random_soft_tokens(4, H, 3), clip = random_soft_tokens(2, H, 4);
  const EmbeddingSpan spans[2] = {{3, 4, image.data()}, {9, 2, clip.data()}};

  std::map<int64_t, std::vector<double>> media;
  for (int64_t i = 0; i < 4; ++i)
    media[3 + i] = std::vector<double>(image.begin() + i * H, image.begin() + (i + 1) * H);
  for (int64_t i = 0; i < 2; ++i)
    media[9 + i] = std::vector<double>(clip.begin() + i * H, clip.begin() + (i + 1) * H);
  auto file = GgufFile::open(e2b_like());
  const test::ReferenceModel reference(*file);
  const auto want = reference.forward(tokens, nullptr, &media);
  const auto without = reference.forward(tokens);

  // 2 and 5 split the spans; the soft tokens really change the logits.
  expect_reference_logits(*model, tokens, std::span<const EmbeddingSpan>(spans, 2), want, without, 0.1, {512, 2, 5});
}

// 12B/26B/31B (use_bidirectional_attention = "vision"): an image's soft tokens see each other
// both ways on every layer, audio and text stay causal. The tiny MoE model (26B-like, no
// per-layer embeddings, so its GGUF reads as bidirectional), sliding window 8: the 10-token
// image is longer than the window, so its early tokens see later ones beyond it.
TEST(MediaPrompt, ImageTokensSeeEachOtherOnBidirectionalModels) {
  auto model = load_model(test::data_dir() + "/models/gemma4-tiny-moe-f32.gguf");
  ASSERT_TRUE(model->config.bidirectional_images);
  ASSERT_FALSE(load_model(e2b_like())->config.bidirectional_images);  // E2B-like: causal images
  const int64_t H = model->config.hidden_size;
  std::vector<int32_t> tokens = {2, 17, 40};
  tokens.insert(tokens.end(), 10, 99);  // image at [3, 13)
  tokens.insert(tokens.end(), {41, 5, 98, 98, 98, 23, 6});  // audio at [15, 18)
  const std::vector<float> image = random_soft_tokens(10, H, 5), clip = random_soft_tokens(3, H, 6);
  const EmbeddingSpan spans[2] = {{3, 10, image.data(), true}, {15, 3, clip.data(), false}};
  std::map<int64_t, std::vector<double>> media;
  for (int64_t i = 0; i < 10; ++i) media[3 + i] = std::vector<double>(image.begin() + i * H, image.begin() + (i + 1) * H);
  for (int64_t i = 0; i < 3; ++i) media[15 + i] = std::vector<double>(clip.begin() + i * H, clip.begin() + (i + 1) * H);
  auto file = GgufFile::open(test::data_dir() + "/models/gemma4-tiny-moe-f32.gguf");
  const test::ReferenceModel reference(*file);
  const auto want = reference.forward(tokens, nullptr, &media, {{3, 10}});
  const auto causal = reference.forward(tokens, nullptr, &media);

  // Micro-batches of 2, 5 and 4 tokens would cut the image: it runs whole instead. The later
  // image tokens really reach the earlier ones.
  expect_reference_logits(*model, tokens, std::span<const EmbeddingSpan>(spans, 2), want, causal, 0.01, {512, 2, 5, 4});
}

TEST(MediaPrompt, MicroBatchesEndOutsideImages) {
  auto bidirectional = load_model(test::data_dir() + "/models/gemma4-tiny-moe-f32.gguf");
  auto causal = load_model(e2b_like());
  const float row = 0;
  const EmbeddingSpan spans[3] = {{3, 10, &row, true}, {15, 3, &row, false}, {20, 4, &row, true}};
  const std::span<const EmbeddingSpan> media(spans, 3);
  const ModelConfig& c = bidirectional->config;
  EXPECT_EQ(micro_batch_end(c, media, 0, 2, 30), 2);    // before the image
  EXPECT_EQ(micro_batch_end(c, media, 0, 5, 30), 3);    // would cut it: ends before it
  EXPECT_EQ(micro_batch_end(c, media, 3, 4, 30), 13);   // starts at it: the whole image, over the limit
  EXPECT_EQ(micro_batch_end(c, media, 13, 3, 30), 16);  // audio may be cut
  EXPECT_EQ(micro_batch_end(c, media, 13, 8, 30), 20);  // the second image: before it
  EXPECT_EQ(micro_batch_end(c, media, 20, 100, 30), 30);
  EXPECT_EQ(micro_batch_end(causal->config, media, 0, 5, 30), 5);  // causal images may be cut
}

TEST(MediaPrompt, PrefixCacheTellsImagesApart) {
  auto model = load_model(e2b_like());
  const int64_t H = model->config.hidden_size;
  const std::vector<int32_t> prompt = {2, 17, 40, 99, 99, 99, 41, 5, 23};
  PromptMedia a{3, random_soft_tokens(3, H, 1), 111}, b{3, random_soft_tokens(3, H, 2), 222};
  auto last_logits = [&](Generator& g, const PromptMedia& m, int64_t* reused) {
    return g.prefill(prompt, reused, nullptr, {m});
  };
  Generator g(*model, nullptr, 32);
  int64_t reused = -1;
  const std::vector<float> first = last_logits(g, a, &reused);
  EXPECT_EQ(reused, 0);
  // The same image again: everything before the last token is reused, same logits.
  EXPECT_EQ(last_logits(g, a, &reused), first);
  EXPECT_EQ(reused, static_cast<int64_t>(prompt.size()) - 1);
  // Another image behind the same placeholder tokens: the cache is kept only up to it.
  const std::vector<float> other = last_logits(g, b, &reused);
  EXPECT_LE(reused, 3);
  Generator fresh(*model, nullptr, 32);
  EXPECT_EQ(other, last_logits(fresh, b, nullptr));
  EXPECT_NE(other, first);
  // And back to the first image.
  EXPECT_EQ(last_logits(g, a, &reused), first);
  EXPECT_LE(reused, 3);
  // Text only after an image prompt: the placeholders are text tokens now, not the image.
  const std::vector<float> text_only = g.prefill(prompt, &reused, nullptr, {});
  EXPECT_LE(reused, 3);
  Generator fresh_text(*model, nullptr, 32);
  EXPECT_EQ(text_only, fresh_text.prefill(prompt, nullptr, nullptr, {}));
}

TEST(MediaPrompt, BadSpansAreClearErrors) {
  auto model = load_model(e2b_like());
  const int64_t H = model->config.hidden_size;
  Generator g(*model, nullptr, 32);
  const std::vector<int32_t> prompt = {2, 17, 40, 99, 41};
  EXPECT_NE(test::error_of([&] { g.prefill(prompt, nullptr, nullptr, {PromptMedia{3, random_soft_tokens(4, H, 1), 1}}); })
                .find("do not fit"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { g.prefill(prompt, nullptr, nullptr, {PromptMedia{1, std::vector<float>(H + 1), 1}}); })
                .find("do not fit"),
            std::string::npos);
}

TEST(MediaPrompt, PlaceholdersExpandWithTheRealTokenizer) {
  const std::string path = test::data_dir() + "/models/gemma4-tiny-realvocab-f16.gguf";
  const Tokenizer tokenizer = load_model_tokenizer(path);
  const int32_t begin = *tokenizer.find_piece("<|image>"), soft = *tokenizer.find_piece("<|image|>"),
                end = *tokenizer.find_piece("<image|>");
  EXPECT_EQ(begin, 255999);  // spec §9.3
  EXPECT_EQ(soft, 258880);
  EXPECT_EQ(end, 258882);
  const int64_t H = 4;
  const std::vector<int32_t> tokens = {2, 10, soft, 11, soft, 12};
  EncodedMedia one{std::vector<float>(2 * H, 1.0f), 7}, two{std::vector<float>(3 * H, 2.0f), 8};
  const MediaPrompt p = expand_image_placeholders(tokens, tokenizer, {one, two}, H);
  const std::vector<int32_t> want = {2, 10, begin, soft, soft, end, 11, begin, soft, soft, soft, end, 12};
  EXPECT_EQ(p.tokens, want);
  ASSERT_EQ(p.media.size(), 2u);
  EXPECT_EQ(p.media[0].first, 3);
  EXPECT_EQ(p.media[1].first, 8);
  EXPECT_EQ(p.media[1].hash, 8u);
  EXPECT_NE(test::error_of([&] { expand_image_placeholders(tokens, tokenizer, {one}, H); }).find("more image places"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { expand_image_placeholders(tokens, tokenizer, {one, two, one}, H); })
                .find("3 image input(s) given"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { expand_image_placeholders(tokens, tokenizer, {one, two}, 5); }).find("width"),
            std::string::npos);

  // Audio places take the audio clips, in their own order (spec §9.3 ids).
  const int32_t abegin = *tokenizer.find_piece("<|audio>"), asoft = *tokenizer.find_piece("<|audio|>"),
                aend = *tokenizer.find_piece("<audio|>");
  EXPECT_EQ(abegin, 256000);
  EXPECT_EQ(asoft, 258881);
  EXPECT_EQ(aend, 258883);
  EncodedMedia clip{std::vector<float>(2 * H, 3.0f), 9, MediaKind::Audio};
  const MediaPrompt mixed = expand_media_placeholders({2, asoft, soft, 12}, tokenizer, {one, clip}, H);
  EXPECT_EQ(mixed.tokens, (std::vector<int32_t>{2, abegin, asoft, asoft, aend, begin, soft, soft, end, 12}));
  ASSERT_EQ(mixed.media.size(), 2u);
  EXPECT_EQ(mixed.media[0].hash, 9u);  // the clip comes first in the prompt
  EXPECT_EQ(mixed.media[0].first, 2);
  EXPECT_EQ(mixed.media[1].first, 6);
  EXPECT_NE(test::error_of([&] { expand_media_placeholders({2, asoft, 12}, tokenizer, {one, clip}, H); })
                .find("1 image input(s) given but the prompt has 0 image place(s)"),
            std::string::npos);
}

}  // namespace
}  // namespace facet
