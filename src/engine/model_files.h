// What a model path carries besides weights: its tokenizer and its chat template, from a
// GGUF file's metadata or from an HF folder's tokenizer files. Read without loading the
// weights, so `facet template --model` stays instant on a 30 GB model.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "chat/chat_types.h"
#include "model/model_config.h"
#include "tokenizer/tokenizer.h"

namespace facet {

// The tokenizer of a .gguf (tokenizer.ggml.* metadata) or an HF folder (tokenizer.json).
// Throws Error saying the model has none, and how to give token ids instead.
Tokenizer load_model_tokenizer(const std::string& model_path);

// The model's own chat template text: GGUF `tokenizer.chat_template`; HF folder
// `chat_template.jinja`, else `tokenizer_config.json`'s "chat_template" (a string, or a
// list of {name, template} where "default" is taken). nullopt when there is none.
std::optional<std::string> read_chat_template(const std::string& model_path);

// The decoder config of a .gguf or HF folder, from metadata / config.json only.
ModelConfig read_model_config(const std::string& model_path);

// How the chat rules of a model were decided.
struct ChatRulesChoice {
  chat::ChatRules rules = chat::ChatRules::Large;
  std::string reason;  // e.g. "the model's chat template adds the empty thought block"
};

// Small or large rules from a chat template's generation prompt: large when the part
// after the last `add_generation_prompt` writes the empty thought block
// "<|channel>thought\n<channel|>" (the large models' prompt with thinking off); small
// when that part has no such block. nullopt when the template has no generation prompt
// to look at.
std::optional<chat::ChatRules> chat_rules_from_template(std::string_view template_text);

// The template when there is one that decides; otherwise a structural rule: models with
// per-layer embeddings (E2B, E4B) are small, all others (12B, 26B-A4B, 31B) large.
ChatRulesChoice choose_chat_rules(const std::optional<std::string>& template_text, const ModelConfig& config);
ChatRulesChoice chat_rules_for_model(const std::string& model_path);

}  // namespace facet
