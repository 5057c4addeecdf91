// The tokenizer built from a GGUF file's tokenizer.ggml.* metadata (the real Gemma 4
// vocabulary carried by the tiny real-vocab test model).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "support/gemma4_tokenizer.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "tokenizer/gguf_vocabulary.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace facet {
namespace {

using Ids = std::vector<int32_t>;

std::string realvocab_gguf_path() { return test::data_dir() + "/models/gemma4-tiny-realvocab-f16.gguf"; }

const Tokenizer& gguf_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::from_gguf(realvocab_gguf_path());
  return tokenizer;
}

TEST(TokenizerGguf, EncodesEveryGoldenLineExactly) {
  for (const auto& golden : test::gemma4_golden())
    EXPECT_EQ(gguf_tokenizer().encode(golden.text), golden.ids) << "golden line " << golden.line;
}

TEST(TokenizerGguf, EncodesTheModelsGoldenPrompt) {
  // The real-vocab model's golden file records the ids of its chat prompt (models/README.md).
  auto lines = test::read_lines(test::data_dir() + "/models/gemma4-tiny-realvocab-f16.golden.json");
  std::string all;
  for (const auto& line : lines) all += line + "\n";
  Ids expected = nlohmann::json::parse(all).at("tokens").get<Ids>();
  EXPECT_EQ(gguf_tokenizer().encode("<bos><|turn>user\nHello there, how are you?<turn|>\n<|turn>model\n"), expected);
}

TEST(TokenizerGguf, KeepsLlamaCppTokenTypesAndSettings) {
  const Tokenizer& tokenizer = gguf_tokenizer();
  EXPECT_EQ(tokenizer.vocab_size(), 262144);
  int control = 0, user_defined = 0, unknown = 0, bytes = 0;
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    switch (tokenizer.type(id)) {
      case TokenType::kControl: ++control; break;
      case TokenType::kUserDefined: ++user_defined; break;
      case TokenType::kUnknown: ++unknown; break;
      case TokenType::kByte: ++bytes; break;
      default: break;
    }
  }
  // spec 1.5: 16 CONTROL, 7 USER_DEFINED, 1 UNKNOWN; 256 byte tokens.
  EXPECT_EQ(control, 16);
  EXPECT_EQ(user_defined, 7);
  EXPECT_EQ(unknown, 1);
  EXPECT_EQ(bytes, 256);
  EXPECT_EQ(tokenizer.bos_id(), 2);
  EXPECT_EQ(tokenizer.eos_id(), 1);
  EXPECT_TRUE(tokenizer.add_bos_by_default());  // llama.cpp's converter forces add-BOS for Gemma 4
  // Same types as the HF loader assigns.
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id)
    ASSERT_EQ(tokenizer.type(id), test::gemma4_tokenizer().type(id)) << "id " << id;
}

TEST(TokenizerGguf, FromFileRecognisesGguf) {
  Tokenizer tokenizer = Tokenizer::from_file(realvocab_gguf_path());
  EXPECT_EQ(tokenizer.encode("Hello world"), (Ids{9259, 1902}));
}

TEST(TokenizerGguf, RejectsFilesWithoutAGemma4Vocabulary) {
  test::TempDir dir;
  GgufWriter writer;
  writer.set("general.architecture", GgufValue::of_string("gemma4"));
  writer.set("tokenizer.ggml.model", GgufValue::of_string("llama"));
  writer.set("tokenizer.ggml.tokens", GgufValue::of_array(std::vector<std::string>{"a", "b"}));
  writer.write(dir.file("llama.gguf"));
  try {
    Tokenizer::from_file(dir.file("llama.gguf"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.model"), std::string::npos) << e.what();
  }

  // A gemma4 vocabulary without merges names the missing key.
  GgufWriter no_merges;
  no_merges.set("tokenizer.ggml.model", GgufValue::of_string("gemma4"));
  no_merges.set("tokenizer.ggml.tokens", GgufValue::of_array(std::vector<std::string>{"a", "b"}));
  no_merges.write(dir.file("no_merges.gguf"));
  try {
    load_gguf_vocabulary(dir.file("no_merges.gguf"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.merges"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace facet
