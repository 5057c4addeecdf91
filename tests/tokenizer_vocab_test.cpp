// The tokenizer built from a small hand-written vocabulary (the form a GGUF loader
// fills), pinning the BPE rules on cases small enough to work out by hand.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace facet {
namespace {

using Ids = std::vector<int32_t>;

// ids: 0 <unk>, 1 <bos>, 2 <eos>, 3 "a", 4 "b", 5 "c", 6 "ab", 7 "bc", 8 "abc",
// 9 "▁", 10 "aa", 11 "x", 12 "x▁", 13 "\n", 14 "a\n", 15 "<0xC3>", 16 "<0xA9>", 17 "<|t|>"
TokenizerVocab small_vocab(std::vector<std::string> merges) {
  TokenizerVocab vocab;
  vocab.tokens = {"<unk>", "<bos>", "<eos>", "a", "b",      "c",      "ab",   "bc",   "abc",
                  "\u2581", "aa",   "x",     "x\u2581", "\n", "a\n", "<0xC3>", "<0xA9>", "<|t|>"};
  vocab.token_types.assign(vocab.tokens.size(), static_cast<int32_t>(TokenType::kNormal));
  vocab.token_types[0] = static_cast<int32_t>(TokenType::kUnknown);
  vocab.token_types[1] = static_cast<int32_t>(TokenType::kControl);
  vocab.token_types[2] = static_cast<int32_t>(TokenType::kControl);
  vocab.token_types[15] = static_cast<int32_t>(TokenType::kByte);
  vocab.token_types[16] = static_cast<int32_t>(TokenType::kByte);
  vocab.token_types[17] = static_cast<int32_t>(TokenType::kUserDefined);
  vocab.merges = std::move(merges);
  vocab.unk_id = 0;
  vocab.bos_id = 1;
  vocab.eos_id = 2;
  vocab.source = "small test vocabulary";
  return vocab;
}

TEST(TokenizerVocab, LowestRankMergesFirst) {
  // "a b" first: ab + c -> abc.
  EXPECT_EQ(Tokenizer(small_vocab({"a b", "b c", "ab c"})).encode("abc"), (Ids{8}));
  // "b c" first: a + bc, and no merge joins them.
  EXPECT_EQ(Tokenizer(small_vocab({"b c", "a b", "ab c"})).encode("abc"), (Ids{3, 7}));
}

TEST(TokenizerVocab, EqualRanksMergeLeftmostFirst) {
  Tokenizer tokenizer(small_vocab({"a a"}));
  EXPECT_EQ(tokenizer.encode("aaa"), (Ids{10, 3}));
  EXPECT_EQ(tokenizer.encode("aaaaa"), (Ids{10, 10, 3}));
}

TEST(TokenizerVocab, MergeWhoseResultIsNoPieceNeverApplies) {
  EXPECT_EQ(Tokenizer(small_vocab({"c a"})).encode("ca"), (Ids{5, 3}));
}

TEST(TokenizerVocab, ByteFallbackAndUnknown) {
  Tokenizer tokenizer(small_vocab({}));
  EXPECT_EQ(tokenizer.encode("\u00e9"), (Ids{15, 16}));  // é = C3 A9, both byte pieces exist
  EXPECT_EQ(tokenizer.encode("z"), (Ids{0}));             // no piece, no <0x7A>: unknown
  EXPECT_EQ(tokenizer.decode(Ids{3, 15, 16, 9, 4}), "a\u00e9 b");
}

TEST(TokenizerVocab, MergesAcrossSpacesAndNewlinesAreHonoured) {
  // Whether a chunk boundary is safe is derived from the merges, not assumed from Gemma.
  Tokenizer tokenizer(small_vocab({"x \u2581", "a \n"}));
  EXPECT_EQ(tokenizer.encode("x a"), (Ids{12, 3}));
  EXPECT_EQ(tokenizer.encode("a\n\na"), (Ids{14, 13, 3}));
}

TEST(TokenizerVocab, SpecialTokensComeFromTokenTypes) {
  Tokenizer tokenizer(small_vocab({}));
  EXPECT_EQ(tokenizer.encode("a<|t|><eos>"), (Ids{3, 17, 2}));
  EXPECT_EQ(tokenizer.encode("<bos>b", {.add_bos = true}), (Ids{1, 1, 4}));
  EXPECT_EQ(tokenizer.decode(Ids{1, 3, 17, 2}, {.skip_special = true}), "a<|t|>");
}

TEST(TokenizerVocab, DuplicatedPieceResolvesToTheLowestId) {
  TokenizerVocab vocab = small_vocab({"a b"});
  vocab.tokens.push_back("ab");  // id 18 duplicates id 6
  vocab.token_types.push_back(static_cast<int32_t>(TokenType::kNormal));
  Tokenizer tokenizer(vocab);
  EXPECT_EQ(tokenizer.encode("ab"), (Ids{6}));
  EXPECT_EQ(tokenizer.find_piece("ab"), 6);
  EXPECT_EQ(tokenizer.decode(Ids{18}), "ab");
}

TEST(TokenizerVocab, MalformedVocabulariesAreErrors) {
  TokenizerVocab bad_types = small_vocab({});
  bad_types.token_types.pop_back();
  EXPECT_THROW(Tokenizer{bad_types}, Error);

  TokenizerVocab bad_type_value = small_vocab({});
  bad_type_value.token_types[3] = 9;
  EXPECT_THROW(Tokenizer{bad_type_value}, Error);

  TokenizerVocab bad_merge = small_vocab({"ab"});
  try {
    Tokenizer{bad_merge};
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("merge #0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("small test vocabulary"), std::string::npos) << e.what();
  }

  TokenizerVocab bad_bos = small_vocab({});
  bad_bos.bos_id = 1000;
  EXPECT_THROW(Tokenizer{bad_bos}, Error);

  EXPECT_THROW(Tokenizer{TokenizerVocab{}}, Error);
}

}  // namespace
}  // namespace facet
