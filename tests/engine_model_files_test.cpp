// Chat rules, tokenizer and chat template read from a model path: GGUF metadata and HF
// folders, the template deciding small/large, the per-layer-embedding fallback.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/model_files.h"
#include "model/random_model.h"
#include "support/gguf_edit.h"
#include "support/paths.h"
#include "util/error.h"
#include "support/temp_dir.h"

namespace facet {
namespace {

using chat::ChatRules;

std::string model_path(const std::string& name) { return test::data_dir() + "/models/" + name; }

std::string official_31b_template() {
  std::ifstream in(test::data_dir() + "/chat/gemma-4-31B-it.chat_template.jinja", std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The small models' template: the same, without the empty thought block in the
// generation prompt.
std::string small_template() {
  std::string text = official_31b_template();
  const std::string block =
      "        {%- if not enable_thinking | default(false) -%}\n"
      "            {{- '<|channel>thought\\n<channel|>' -}}\n"
      "        {%- endif -%}\n";
  const size_t at = text.rfind(block);
  EXPECT_NE(at, std::string::npos) << "the official template changed shape";
  if (at != std::string::npos) text.erase(at, block.size());
  return text;
}

TEST(ChatRulesFromTemplate, EmptyThoughtBlockInTheGenerationPromptMeansLarge) {
  EXPECT_EQ(chat_rules_from_template(official_31b_template()), ChatRules::Large);
  EXPECT_EQ(chat_rules_from_template(small_template()), ChatRules::Small);
  // A real newline instead of the Jinja escape counts too.
  EXPECT_EQ(chat_rules_from_template("{% if add_generation_prompt %}<|turn>model\n<|channel>thought\n<channel|>{% endif %}"),
            ChatRules::Large);
  // The block elsewhere in the template (history turns) does not decide it.
  EXPECT_EQ(chat_rules_from_template("{{ '<|channel>thought\\n<channel|>' }}{% if add_generation_prompt %}"
                                     "{{ '<|turn>model\\n' }}{% endif %}"),
            ChatRules::Small);
  // Nothing to decide from: no generation prompt, or not a Gemma 4 one.
  EXPECT_EQ(chat_rules_from_template("{{ messages }}"), std::nullopt);
  EXPECT_EQ(chat_rules_from_template("{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"), std::nullopt);
}

TEST(ChatRulesForModel, GgufTemplateWinsOverTheStructuralFallback) {
  test::TempDir dir;
  const std::string e2b_like = model_path("gemma4-tiny-e2b-like-f32.gguf");  // has per-layer embeddings
  const std::string moe = model_path("gemma4-tiny-moe-f32.gguf");            // has none
  ASSERT_FALSE(read_chat_template(e2b_like).has_value());
  ASSERT_FALSE(read_chat_template(moe).has_value());
  EXPECT_EQ(chat_rules_for_model(e2b_like).rules, ChatRules::Small);
  EXPECT_EQ(chat_rules_for_model(moe).rules, ChatRules::Large);
  EXPECT_NE(chat_rules_for_model(e2b_like).reason.find("per-layer embeddings"), std::string::npos);

  test::copy_gguf_with_metadata(e2b_like, dir.file("large.gguf"),
                                {{"tokenizer.chat_template", GgufValue::of_string(official_31b_template())}});
  test::copy_gguf_with_metadata(moe, dir.file("small.gguf"),
                                {{"tokenizer.chat_template", GgufValue::of_string(small_template())}});
  EXPECT_EQ(read_chat_template(dir.file("large.gguf")), official_31b_template());
  EXPECT_EQ(chat_rules_for_model(dir.file("large.gguf")).rules, ChatRules::Large);
  EXPECT_EQ(chat_rules_for_model(dir.file("small.gguf")).rules, ChatRules::Small);
  EXPECT_NE(chat_rules_for_model(dir.file("small.gguf")).reason.find("chat template"), std::string::npos);

  // A template that does not decide falls back to the structure.
  test::copy_gguf_with_metadata(e2b_like, dir.file("odd.gguf"),
                                {{"tokenizer.chat_template", GgufValue::of_string("{{ messages }}")}});
  EXPECT_EQ(chat_rules_for_model(dir.file("odd.gguf")).rules, ChatRules::Small);
}

TEST(ChatRulesForModel, HfFolderTemplateFromJinjaFileOrTokenizerConfig) {
  test::TempDir dir;
  const ModelConfig config = ModelConfig::from_hf_file(test::source_dir() + "/models/configs/tiny-e.json");
  ASSERT_TRUE(config.has_ple());
  const std::string folder = dir.file("model");
  write_random_hf(config, GeneratorOptions{}, folder);
  EXPECT_EQ(chat_rules_for_model(folder).rules, ChatRules::Small);  // no template: PLE fallback

  nlohmann::json tokenizer_config = {{"chat_template", official_31b_template()}};
  std::ofstream(folder + "/tokenizer_config.json") << tokenizer_config.dump();
  EXPECT_EQ(chat_rules_for_model(folder).rules, ChatRules::Large);

  tokenizer_config["chat_template"] = nlohmann::json::array(
      {{{"name", "tool_use"}, {"template", small_template()}}, {{"name", "default"}, {"template", official_31b_template()}}});
  std::ofstream(folder + "/tokenizer_config.json") << tokenizer_config.dump();
  EXPECT_EQ(read_chat_template(folder), official_31b_template());

  // chat_template.jinja comes first.
  std::ofstream(folder + "/chat_template.jinja") << small_template();
  EXPECT_EQ(chat_rules_for_model(folder).rules, ChatRules::Small);
}

TEST(ModelTokenizer, FromGgufOrHfFolderOrAClearError) {
  test::TempDir dir;
  EXPECT_EQ(load_model_tokenizer(model_path("gemma4-tiny-realvocab-f16.gguf")).vocab_size(), 262144);

  test::copy_gguf_with_metadata(model_path("gemma4-tiny-moe-f32.gguf"), dir.file("bare.gguf"), {}, {"tokenizer."});
  try {
    load_model_tokenizer(dir.file("bare.gguf"));
    ADD_FAILURE() << "a GGUF without tokenizer metadata was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("carries no tokenizer"), std::string::npos) << e.what();
  }

  const ModelConfig config = ModelConfig::from_hf_file(test::source_dir() + "/models/configs/tiny-moe.json");
  const std::string folder = dir.file("hf");
  write_random_hf(config, GeneratorOptions{}, folder);
  EXPECT_EQ(load_model_tokenizer(folder).vocab_size(), config.vocab_size);
  std::filesystem::remove(folder + "/tokenizer.json");
  try {
    load_model_tokenizer(folder);
    ADD_FAILURE() << "a folder without tokenizer.json was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tokenizer.json"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_model_tokenizer(dir.file("missing.gguf")), Error);
}

}  // namespace
}  // namespace facet
