// Differential test: facet's tokenizer against Google's SentencePiece (Debian's
// libsentencepiece) on a BPE model built from the same vocabulary and merges, over
// thousands of seeded random strings. The oracle knows nothing of special tokens, so
// they are split out here first (leftmost, longest), as the data README prescribes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "support/gemma4_tokenizer.h"
#include "support/paths.h"
#include "tokenizer/tokenizer.h"

#ifdef FACET_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>

namespace facet {
namespace {

using Ids = std::vector<int32_t>;

struct SpecialToken {
  std::string text;
  int32_t id;
};

// The 24 special tokens from the data folder's table (not from the tokenizer under test).
const std::vector<SpecialToken>& special_tokens() {
  static const std::vector<SpecialToken> tokens = [] {
    auto lines = test::read_lines(test::data_dir() + "/tokenizer/gemma4-special-tokens.json");
    std::string all;
    for (const auto& line : lines) all += line + "\n";
    const nlohmann::json table = nlohmann::json::parse(all);
    std::vector<SpecialToken> out;
    for (const auto& token : table.at("special_tokens"))
      out.push_back({token.at("text").get<std::string>(), token.at("id").get<int32_t>()});
    return out;
  }();
  return tokens;
}

const sentencepiece::SentencePieceProcessor& oracle() {
  static const auto* processor = [] {
    auto* p = new sentencepiece::SentencePieceProcessor();
    auto status = p->Load(test::data_dir() + "/tokenizer/gemma4-spm-bpe.model");
    if (!status.ok()) throw std::runtime_error("cannot load gemma4-spm-bpe.model: " + status.ToString());
    return p;
  }();
  return *processor;
}

// SentencePiece on the text between special tokens; the special ids themselves in between.
Ids oracle_encode(const std::string& text) {
  Ids ids;
  auto encode_plain = [&](const std::string& plain) {
    if (plain.empty()) return;
    std::vector<int> pieces;
    auto status = oracle().Encode(plain, &pieces);
    if (!status.ok()) throw std::runtime_error("SentencePiece failed: " + status.ToString());
    ids.insert(ids.end(), pieces.begin(), pieces.end());
  };
  size_t plain_start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const SpecialToken* longest = nullptr;
    for (const auto& token : special_tokens())
      if (text.compare(pos, token.text.size(), token.text) == 0 &&
          (!longest || token.text.size() > longest->text.size()))
        longest = &token;
    if (!longest) {
      ++pos;
      continue;
    }
    encode_plain(text.substr(plain_start, pos - plain_start));
    ids.push_back(longest->id);
    pos += longest->text.size();
    plain_start = pos;
  }
  encode_plain(text.substr(plain_start));
  return ids;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Random text made of pieces that stress different parts of the tokenizer.
class RandomText {
 public:
  explicit RandomText(uint32_t seed) : rng_(seed) {}

  std::string next() {
    std::string text;
    int parts = pick(1, 12);
    for (int i = 0; i < parts; ++i) append_part(text);
    return text;
  }

 private:
  int pick(int low, int high) { return std::uniform_int_distribution<int>(low, high)(rng_); }

  void append_code_points(std::string& out, uint32_t first, uint32_t last, int count) {
    for (int i = 0; i < count; ++i) append_utf8(out, static_cast<uint32_t>(pick(first, last)));
  }

  void append_part(std::string& out) {
    static const char* const kWords[] = {"the", "The", "hello", "world", "token", "izer", "Gemma",
                                         "model", "don't", "I'm", "function", "return", "café", "naïve",
                                         "東京", "привет", "γειά", "שלום", "مرحبا", "नमस्ते", "สวัสดี"};
    static const char* const kEmoji[] = {"😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "❤️", "🧑‍💻", "✨"};
    static const char* const kFragments[] = {"<|turn", "turn|>", "<|", "|>", "<start_of_turn>", "<table>",
                                             "<unused5>", "<0x41>", "\u2581", "</s>", "<", ">", "<<|tool>>",
                                             "</td> </tr>", "> </", "\n\n</div>"};
    switch (pick(0, 13)) {
      case 0: out += kWords[pick(0, std::size(kWords) - 1)]; break;
      case 1: out += std::string(pick(1, 70), ' '); break;
      case 2: out += std::string(pick(1, 40), "\n\t\r "[pick(0, 3)]); break;
      case 3: for (int i = pick(1, 8); i > 0; --i) out += " \n\t\r\f\v"[pick(0, 5)]; break;
      case 4: out += kEmoji[pick(0, std::size(kEmoji) - 1)]; break;
      case 5: out += special_tokens()[pick(0, special_tokens().size() - 1)].text; break;
      case 6: out += kFragments[pick(0, std::size(kFragments) - 1)]; break;
      case 7: append_code_points(out, 0x21, 0x7E, pick(1, 12)); break;       // ASCII symbols/letters
      case 8: append_code_points(out, '0', '9', pick(1, 12)); break;         // digits
      case 9: append_code_points(out, 0x4E00, 0x9FFF, pick(1, 6)); break;    // CJK
      case 10: append_code_points(out, 0x0400, 0x04FF, pick(1, 8)); break;  // Cyrillic
      case 11: append_code_points(out, 0x0000, 0x001F, pick(1, 3)); break;  // C0 controls, NUL
      case 12: {  // any scalar value, all planes (many need byte fallback)
        for (int i = pick(1, 6); i > 0; --i) {
          auto cp = static_cast<uint32_t>(pick(0x80, 0x10FFFF));
          if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
          append_utf8(out, cp);
        }
        break;
      }
      default: {  // random bytes made valid: each byte read as a Latin-1 character
        for (int i = pick(1, 10); i > 0; --i) append_utf8(out, static_cast<uint32_t>(pick(0, 255)));
        break;
      }
    }
  }

  std::mt19937 rng_;
};

TEST(TokenizerSentencePiece, OracleHarnessReproducesTheGoldenFile) {
  // Checks the harness itself (special split + SentencePiece) before trusting it below.
  for (const auto& golden : test::gemma4_golden())
    ASSERT_EQ(oracle_encode(golden.text), golden.ids) << "golden line " << golden.line;
}

TEST(TokenizerSentencePiece, AgreesOnThousandsOfRandomStrings) {
  const Tokenizer& tokenizer = test::gemma4_tokenizer();
  constexpr uint32_t kSeed = 20260427;
  RandomText generator(kSeed);
  int compared = 0, tokens = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string text = generator.next();
    Ids expected = oracle_encode(text);
    ASSERT_EQ(tokenizer.encode(text), expected)
        << "random string #" << i << " (seed " << kSeed << "): " << nlohmann::json(text).dump();
    ++compared;
    tokens += static_cast<int>(expected.size());
  }
  EXPECT_EQ(compared, 4000);
  EXPECT_GT(tokens, 40000);
}

TEST(TokenizerSentencePiece, AgreesOnLongMixedDocuments) {
  // Long inputs exercise chunking and the per-call cache across many repeated words.
  const Tokenizer& tokenizer = test::gemma4_tokenizer();
  RandomText generator(7);
  for (int doc = 0; doc < 5; ++doc) {
    std::string text;
    while (text.size() < 20000) text += generator.next();
    ASSERT_EQ(tokenizer.encode(text), oracle_encode(text)) << "document " << doc;
  }
}

}  // namespace
}  // namespace facet

#else
TEST(TokenizerSentencePiece, DISABLED_NeedsLibsentencepiece) {}
#endif
