// The streaming detokenizer: only complete UTF-8 comes out, and the pieces add up to decode().
#include "tokenizer/streaming_detokenizer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/gemma4_tokenizer.h"
#include "util/error.h"

namespace facet {
namespace {

using Ids = std::vector<int32_t>;
using test::gemma4_tokenizer;

constexpr int32_t byte_token(int byte) { return 238 + byte; }  // <0xXX> = 238 + byte (spec 1.4)

// nlohmann::json refuses to serialize invalid UTF-8, which makes it an independent validator.
bool is_valid_utf8(const std::string& text) {
  try {
    (void)nlohmann::json(text).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

std::vector<std::string> stream(const Ids& ids, DecodeOptions options = {}) {
  StreamingDetokenizer detokenizer(gemma4_tokenizer(), options);
  std::vector<std::string> pieces;
  for (int32_t id : ids) pieces.push_back(detokenizer.feed(id));
  pieces.push_back(detokenizer.flush());
  return pieces;
}

TEST(TokenizerStreaming, HoldsAMultibyteCharacterUntilItsLastByte) {
  // U+F0000 has no piece: F3 B0 80 80 as four byte tokens.
  auto pieces = stream({9259, byte_token(0xF3), byte_token(0xB0), byte_token(0x80), byte_token(0x80), 1902});
  EXPECT_EQ(pieces, (std::vector<std::string>{"Hello", "", "", "", "\U000F0000", " world", ""}));
}

TEST(TokenizerStreaming, ThreeByteCharacterFromBytes) {
  auto pieces = stream({byte_token(0xE2), byte_token(0x82), byte_token(0xAC)});
  EXPECT_EQ(pieces, (std::vector<std::string>{"", "", "\u20AC", ""}));
}

TEST(TokenizerStreaming, IncompleteCharacterAtTheEndBecomesOneReplacement) {
  auto pieces = stream({byte_token(0xF0), byte_token(0x9F)});
  EXPECT_EQ(pieces, (std::vector<std::string>{"", "", "\uFFFD"}));
}

TEST(TokenizerStreaming, InterruptedCharacterIsReplacedBeforeTheNextText) {
  // E2 82 then an ordinary token: the two bytes can never complete.
  auto pieces = stream({byte_token(0xE2), byte_token(0x82), 9259});
  EXPECT_EQ(pieces, (std::vector<std::string>{"", "", "\uFFFDHello", ""}));
  // A byte that cannot continue the sequence: U+FFFD, then the byte starts afresh.
  pieces = stream({byte_token(0xE2), byte_token(0x41)});
  EXPECT_EQ(pieces, (std::vector<std::string>{"", "\uFFFDA", ""}));
  // A byte that can never start a character comes out at once.
  pieces = stream({byte_token(0xFF), byte_token(0x80)});
  EXPECT_EQ(pieces, (std::vector<std::string>{"\uFFFD", "\uFFFD", ""}));
}

TEST(TokenizerStreaming, SkipsControlTokensWhenAsked) {
  Ids ids = gemma4_tokenizer().encode("<|turn>model\nHi<turn|>");
  std::string joined;
  for (const auto& piece : stream(ids, {.skip_special = true})) joined += piece;
  EXPECT_EQ(joined, "model\nHi");
}

TEST(TokenizerStreaming, MatchesDecodeOnEveryGoldenLine) {
  const Tokenizer& tokenizer = gemma4_tokenizer();
  for (const auto& golden : test::gemma4_golden()) {
    std::string joined;
    for (const auto& piece : stream(golden.ids)) {
      EXPECT_TRUE(is_valid_utf8(piece)) << "golden line " << golden.line;
      joined += piece;
    }
    EXPECT_EQ(joined, tokenizer.decode(golden.ids)) << "golden line " << golden.line;
  }
}

TEST(TokenizerStreaming, RejectsUnknownIdsWithoutLosingState) {
  StreamingDetokenizer detokenizer(gemma4_tokenizer());
  EXPECT_EQ(detokenizer.feed(byte_token(0xE2)), "");
  EXPECT_THROW(detokenizer.feed(300000), Error);
  EXPECT_TRUE(detokenizer.has_pending());
  EXPECT_EQ(detokenizer.feed(byte_token(0x82)), "");
  EXPECT_EQ(detokenizer.feed(byte_token(0xAC)), "\u20AC");
  EXPECT_FALSE(detokenizer.has_pending());
}

}  // namespace
}  // namespace facet
