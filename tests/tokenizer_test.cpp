// The Gemma 4 tokenizer against the golden encodings and the behaviour the spec pins
// (spec/gemma4-tokenizer-and-chat.md section 1).
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "support/gemma4_tokenizer.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "util/error.h"

namespace facet {
namespace {

using Ids = std::vector<int32_t>;
using test::gemma4_golden;
using test::gemma4_tokenizer;

constexpr int32_t kSpace = 236743;  // "▁"

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size())
    text.replace(pos, from.size(), to);
  return text;
}

// Whitespace runs as the spec's table gives them: 31-long pieces greedily, then the rest.
Ids expected_run(int length, int32_t run31, int32_t base_for_k, int32_t single) {
  Ids ids(length / 31, run31);
  int rest = length % 31;
  if (rest == 1) ids.push_back(single);
  if (rest >= 2) ids.push_back(base_for_k + rest);
  return ids;
}

TEST(TokenizerGolden, FileHasAllLines) { EXPECT_EQ(gemma4_golden().size(), 323u); }

TEST(TokenizerGolden, EncodesEveryLineExactly) {
  const Tokenizer& tokenizer = gemma4_tokenizer();
  int mismatches = 0;
  for (const auto& golden : gemma4_golden()) {
    Ids ids = tokenizer.encode(golden.text);
    if (ids != golden.ids) ++mismatches;
    EXPECT_EQ(ids, golden.ids) << "golden line " << golden.line << ": " << golden.text;
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(TokenizerGolden, DecodesEveryLineBackToItsText) {
  const Tokenizer& tokenizer = gemma4_tokenizer();
  for (const auto& golden : gemma4_golden()) {
    // A literal U+2581 encodes like a space, so it decodes as one (spec 1.2).
    std::string expected = replace_all(golden.text, "\u2581", " ");
    EXPECT_EQ(tokenizer.decode(golden.ids), expected) << "golden line " << golden.line;
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(golden.text)), expected) << "golden line " << golden.line;
  }
}

TEST(TokenizerBehaviour, ReferenceCasesFromTheSpec) {
  const Tokenizer& tokenizer = gemma4_tokenizer();
  EXPECT_EQ(tokenizer.encode("Hello world"), (Ids{9259, 1902}));
  EXPECT_EQ(tokenizer.encode(" Hello"), (Ids{26352}));
  EXPECT_EQ(tokenizer.encode("Hello"), (Ids{9259}));  // no dummy prefix
  EXPECT_EQ(tokenizer.encode("  "), (Ids{138}));
  EXPECT_EQ(tokenizer.encode("\r\n"), (Ids{251, 107}));
  EXPECT_EQ(tokenizer.encode("x\u00a0y"), (Ids{236781, 432, 398, 236762}));
  EXPECT_EQ(tokenizer.encode("1234"), (Ids{236770, 236778, 236800, 236812}));
  EXPECT_EQ(tokenizer.encode("<|turn>"), (Ids{105}));
  EXPECT_EQ(tokenizer.encode("<start_of_turn>").size(), 7u);
  EXPECT_EQ(tokenizer.encode(""), Ids{});
  EXPECT_EQ(tokenizer.encode(" "), (Ids{kSpace}));
  EXPECT_EQ(tokenizer.encode("\u2581"), (Ids{kSpace}));
}

TEST(TokenizerBehaviour, ChatPromptFromTheSpec) {
  EXPECT_EQ(gemma4_tokenizer().encode("<bos><|turn>user\nWhat is the capital of France?<turn|>\n<|turn>model\n"),
            (Ids{2, 105, 2364, 107, 3689, 563, 506, 5279, 529, 7001, 236881, 106, 107, 105, 4368, 107}));
}

TEST(TokenizerBehaviour, LongWhitespaceRunsFollowTheRunTable) {
  const Tokenizer& tokenizer = gemma4_tokenizer();
  EXPECT_EQ(tokenizer.encode(std::string(64, ' ')), (Ids{167, 167, 138}));
  EXPECT_EQ(tokenizer.encode(std::string(100, '\n')), (Ids{137, 137, 137, 113}));
  for (int length : {1, 2, 30, 31, 32, 33, 62, 63, 1000, 100000}) {
    EXPECT_EQ(tokenizer.encode(std::string(length, ' ')), expected_run(length, 167, 136, kSpace)) << length;
    EXPECT_EQ(tokenizer.encode(std::string(length, '\n')), expected_run(length, 137, 106, 107)) << length;
    EXPECT_EQ(tokenizer.encode(std::string(length, '\t')), expected_run(length, 255998, 255967, 255968)) << length;
  }
}

TEST(TokenizerBehaviour, MergesMayCrossAWordBoundary) {
  // ">▁</" (107068) is the one merge result with a "▁" inside after another character:
  // the encoder must not cut the text before every space.
  EXPECT_EQ(gemma4_tokenizer().encode("</td> </tr>"), (Ids{954, 2004, 107068, 1168, 236813}));
}

TEST(TokenizerBehaviour, ByteFallbackUsesOneTokenPerUtf8Byte) {
  const Tokenizer& tokenizer = gemma4_tokenizer();
  // U+F0000 (plane-15 private use) is not a piece: its bytes F3 B0 80 80 become 238 + byte.
  EXPECT_EQ(tokenizer.encode("\xF3\xB0\x80\x80"), (Ids{238 + 0xF3, 238 + 0xB0, 238 + 0x80, 238 + 0x80}));
  EXPECT_EQ(tokenizer.encode(std::string(1, '\0')), (Ids{238}));
  for (int byte = 0; byte < 256; ++byte) {
    EXPECT_EQ(tokenizer.byte_value(238 + byte), byte);
    EXPECT_EQ(tokenizer.type(238 + byte), TokenType::kByte);
  }
}

TEST(TokenizerBehaviour, InvalidUtf8InputBecomesByteTokens) {
  const Tokenizer& tokenizer = gemma4_tokenizer();
  // A lone continuation byte, a truncated 3-byte sequence, an overlong '/', a surrogate.
  EXPECT_EQ(tokenizer.encode("\x80"), (Ids{238 + 0x80}));
  EXPECT_EQ(tokenizer.encode("\xE4\xB8"), (Ids{238 + 0xE4, 238 + 0xB8}));
  EXPECT_EQ(tokenizer.encode("\xC0\xAF"), (Ids{238 + 0xC0, 238 + 0xAF}));
  EXPECT_EQ(tokenizer.encode("\xED\xA0\x80"), (Ids{238 + 0xED, 238 + 0xA0, 238 + 0x80}));
  // Decoding replaces each maximal ill-formed part with U+FFFD.
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("a\xE4\xB8z")), "a\uFFFDz");
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("\xC0\xAF")), "\uFFFD\uFFFD");
}

TEST(TokenizerBehaviour, SpecialTokensAreMatchedLeftmostLongest) {
  const Tokenizer& tokenizer = gemma4_tokenizer();
  EXPECT_EQ(tokenizer.encode("<|image|>"), (Ids{258880}));      // not "<|image>" + "|>"
  EXPECT_EQ(tokenizer.encode("<|image>"), (Ids{255999}));
  EXPECT_EQ(tokenizer.encode("<<|turn>"), (Ids{tokenizer.encode("<")[0], 105}));
  EXPECT_EQ(tokenizer.encode("a<eos>b"), (Ids{tokenizer.encode("a")[0], 1, tokenizer.encode("b")[0]}));
  EXPECT_EQ(tokenizer.encode("<|turn><turn|>"), (Ids{105, 106}));
  EXPECT_GT(tokenizer.encode("<| turn>").size(), 1u);
  // With parsing off the same text is ordinary characters.
  Ids plain = tokenizer.encode("<|turn>", {.add_bos = false, .parse_special = false});
  EXPECT_GT(plain.size(), 1u);
  EXPECT_EQ(tokenizer.decode(plain), "<|turn>");
}

TEST(TokenizerBehaviour, BosIsAddedOnlyWhenAsked) {
  const Tokenizer& tokenizer = gemma4_tokenizer();
  EXPECT_EQ(tokenizer.bos_id(), 2);
  EXPECT_EQ(tokenizer.eos_id(), 1);
  EXPECT_EQ(tokenizer.pad_id(), 0);
  EXPECT_EQ(tokenizer.unk_id(), 3);
  EXPECT_FALSE(tokenizer.add_bos_by_default());
  EXPECT_EQ(tokenizer.encode("Hello", {.add_bos = true}), (Ids{2, 9259}));
  EXPECT_EQ(tokenizer.encode("", {.add_bos = true}), (Ids{2}));
}

TEST(TokenizerBehaviour, TokenTypesFollowLlamaCpp) {
  const Tokenizer& tokenizer = gemma4_tokenizer();
  EXPECT_EQ(tokenizer.type(105), TokenType::kControl);
  EXPECT_EQ(tokenizer.type(48), TokenType::kUserDefined);  // <|tool_call>
  EXPECT_EQ(tokenizer.type(100), TokenType::kUserDefined); // <|channel>
  EXPECT_EQ(tokenizer.type(3), TokenType::kUnknown);
  EXPECT_EQ(tokenizer.type(9259), TokenType::kNormal);
  int specials = 0;
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) specials += tokenizer.is_special(id);
  EXPECT_EQ(specials, 24);
  EXPECT_EQ(tokenizer.vocab_size(), 262144);
  EXPECT_EQ(tokenizer.find_piece("\u2581Hello"), 26352);
  EXPECT_EQ(tokenizer.find_piece("no such piece here"), std::nullopt);
}

TEST(TokenizerBehaviour, DecodeShowsOrSkipsSpecialTokens) {
  const Tokenizer& tokenizer = gemma4_tokenizer();
  Ids ids = tokenizer.encode("<bos><|channel>thought\n<channel|>Hi there<turn|>");
  EXPECT_EQ(tokenizer.decode(ids), "<bos><|channel>thought\n<channel|>Hi there<turn|>");
  EXPECT_EQ(tokenizer.decode(ids, {.skip_special = true}), "<|channel>thought\n<channel|>Hi there");
}

TEST(TokenizerBehaviour, DecodeRejectsIdsOutsideTheVocabulary) {
  const Tokenizer& tokenizer = gemma4_tokenizer();
  EXPECT_THROW(tokenizer.decode(Ids{262144}), Error);
  EXPECT_THROW(tokenizer.decode(Ids{-1}), Error);
  EXPECT_THROW(tokenizer.piece(262144), Error);
}

TEST(TokenizerBehaviour, PathologicalInputsStayLinear) {
  const Tokenizer& tokenizer = gemma4_tokenizer();
  // One megabyte of one letter: result must be valid and decode back; a quadratic merge
  // loop would take minutes here.
  std::string letters(1 << 20, 'a');
  EXPECT_EQ(tokenizer.decode(tokenizer.encode(letters)), letters);
  std::string brackets(1 << 18, '<');
  EXPECT_EQ(tokenizer.decode(tokenizer.encode(brackets)), brackets);
  std::string emoji;
  for (int i = 0; i < 50000; ++i) emoji += "\U0001F600";
  EXPECT_EQ(tokenizer.decode(tokenizer.encode(emoji)), emoji);
}

TEST(TokenizerBehaviour, LoadsFromAModelFolderAndReportsBadPaths) {
  EXPECT_THROW(Tokenizer::from_file("/nonexistent/tokenizer.json"), Error);
  EXPECT_THROW(Tokenizer::from_hf_json(test::data_dir() + "/tokenizer/golden-gemma4.jsonl"), Error);
  // A folder without tokenizer.json names the missing file.
  try {
    Tokenizer::from_file(test::data_dir() + "/chat");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
  }
}

TEST(TokenizerBehaviour, MalformedTokenizerJsonIsAnErrorNamingTheFile) {
  test::TempDir dir;
  auto expect_error = [&](const std::string& name, const std::string& content, const std::string& needle) {
    std::ofstream(dir.file(name), std::ios::binary) << content;
    try {
      Tokenizer::from_hf_json(dir.file(name));
      ADD_FAILURE() << name << ": expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(dir.file(name)), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  std::ifstream real(test::gemma4_tokenizer_json_path(), std::ios::binary);
  std::string head(4096, '\0');
  real.read(head.data(), static_cast<std::streamsize>(head.size()));
  expect_error("truncated.json", head, "JSON");
  expect_error("unigram.json", R"({"model": {"type": "Unigram", "vocab": []}})", "BPE");
  expect_error("gap.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 2}, "merges": []}})", "model.vocab");
  expect_error("bad_id.json", R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})", "integer");
  expect_error("bad_merge.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a"]]}})",
               "model.merges[0]");
  expect_error("no_merges.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}}})", "model.merges");
  expect_error("normalizer.json",
               R"({"normalizer": {"type": "NFKC"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
               "normalizer");
}

}  // namespace
}  // namespace facet
