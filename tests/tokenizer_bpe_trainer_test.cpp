// The BPE trainer (tokenizer/bpe_trainer.h): Gemma 4's fixed ids, learned pieces for
// frequent words, lossless round trips through the runtime tokenizer (byte fallback for
// unseen characters, space and newline runs), agreement with word-by-word encoding (no
// merge crosses a word), determinism, and the chat markers as single tokens.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "tokenizer/bpe_trainer.h"
#include "tokenizer/tokenizer.h"
#include "support/temp_dir.h"
#include "util/error.h"

namespace facet {
namespace {

std::vector<std::string> corpus() {
  const std::vector<std::string> words = {"the", "cat", "sat", "on", "mat", "and", "dog", "ran", "to", "house",
                                          "quickly", "brown", "fox", "jumped", "over", "lazy"};
  std::mt19937 rng(3);
  std::vector<std::string> docs;
  for (int d = 0; d < 60; ++d) {
    std::string doc;
    for (int w = 0; w < 40; ++w) doc += (w ? " " : "") + words[rng() % words.size()];
    docs.push_back(doc + ".\nA new line, \"quoted\" text.");
  }
  return docs;
}

Tokenizer tokenizer_of(const TestVocabulary& v, const test::TempDir& dir) {
  std::ofstream(dir.file("tokenizer.json")) << hf_tokenizer_json(v).dump();
  return Tokenizer::from_hf_json(dir.file("tokenizer.json"));
}

TEST(BpeTrainer, KeepsGemma4sFixedIds) {
  const TestVocabulary v = train_bpe_vocabulary(corpus(), {.vocab_size = 700});
  ASSERT_EQ(v.tokens.size(), 700u);
  EXPECT_EQ(v.tokens[0], "<pad>");
  EXPECT_EQ(v.tokens[1], "<eos>");
  EXPECT_EQ(v.tokens[2], "<bos>");
  EXPECT_EQ(v.tokens[105], "<|turn>");
  EXPECT_EQ(v.tokens[106], "<turn|>");
  EXPECT_EQ(v.tokens[107], "\n");
  EXPECT_EQ(v.tokens[138], "\xe2\x96\x81\xe2\x96\x81");
  EXPECT_EQ(v.tokens[238], "<0x00>");
  EXPECT_EQ(v.tokens[238 + 0x41], "<0x41>");
  EXPECT_EQ(v.types[238], GgufTokenType::Byte);
}

TEST(BpeTrainer, LearnsFrequentWordsAndRoundTrips) {
  test::TempDir dir;
  BpeTrainerReport report;
  const TestVocabulary v = train_bpe_vocabulary(corpus(), {.vocab_size = 700}, &report);
  EXPECT_GT(report.merges, 50);
  const Tokenizer tok = tokenizer_of(v, dir);
  ASSERT_TRUE(tok.find_piece("\xe2\x96\x81quickly").has_value());  // "▁quickly"
  const std::string seen = "the lazy dog jumped over the brown fox";
  EXPECT_EQ(tok.encode(seen).size(), 8u);  // one token per word
  for (const std::string& text : {seen, std::string("zebra \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac!"),
                                   std::string("a    b\n\n\n\ncat\t\tdog  ")}) {
    const auto ids = tok.encode(text);
    EXPECT_EQ(tok.decode(ids), text);
  }
  // Unseen characters go to byte fallback: 3 bytes of 日.
  const auto ids = tok.encode("\xe6\x97\xa5");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], 238 + 0xe6);
  // Runs of newlines up to 31 are one token (as llama.cpp emits them).
  EXPECT_EQ(tok.encode("\n\n\n\n\n"), std::vector<int32_t>{111});
}

TEST(BpeTrainer, EncodingATextEqualsEncodingItWordByWord) {
  test::TempDir dir;
  const Tokenizer tok = tokenizer_of(train_bpe_vocabulary(corpus(), {.vocab_size = 800}), dir);
  const std::string text = corpus()[7];
  std::vector<int32_t> by_word;
  size_t start = 0;
  for (size_t pos = 1; pos <= text.size(); ++pos)
    if (pos == text.size() || text[pos] == ' ' || text[pos] == '\n' || text[pos - 1] == '\n') {
      for (int32_t id : tok.encode(text.substr(start, pos - start))) by_word.push_back(id);
      start = pos;
    }
  EXPECT_EQ(tok.encode(text), by_word);
}

TEST(BpeTrainer, IsDeterministicAndTakesTheChatMarkers) {
  test::TempDir dir;
  const TestVocabulary a = train_bpe_vocabulary(corpus(), {.vocab_size = 650});
  const TestVocabulary b = train_bpe_vocabulary(corpus(), {.vocab_size = 650});
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.merges, b.merges);
  const Tokenizer tok = tokenizer_of(a, dir);
  const auto ids = tok.encode("<|turn>user\nthe cat<turn|>");
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids.front(), 105);
  EXPECT_EQ(ids.back(), 106);
}

TEST(BpeTrainer, BadOptionsAreErrors) {
  EXPECT_THROW(train_bpe_vocabulary(corpus(), {.vocab_size = 400}), Error);
  EXPECT_THROW(train_bpe_vocabulary({}, {.vocab_size = 1000}), Error);
}

}  // namespace
}  // namespace facet
