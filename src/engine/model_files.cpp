#include "engine/model_files.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/gguf.h"
#include "util/error.h"

namespace facet {
namespace {

namespace fs = std::filesystem;

bool is_folder(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

void require_exists(const std::string& path) {
  std::error_code ec;
  require(fs::exists(path, ec), path, ": no such file or folder");
}

std::optional<std::string> read_text_file(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  require(in.good(), path.string(), ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// tokenizer_config.json's chat_template: a string, or a list of named templates.
std::optional<std::string> template_from_tokenizer_config(const fs::path& path) {
  std::optional<std::string> text = read_text_file(path);
  if (!text) return std::nullopt;
  nlohmann::json config = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  require(!config.is_discarded() && config.is_object(), path.string(), ": not a JSON object");
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  require(it->is_array(), path.string(), ": \"chat_template\" must be a string or a list of {name, template}");
  for (const auto& entry : *it)
    if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template") &&
        entry["template"].is_string())
      return entry["template"].get<std::string>();
  return std::nullopt;
}

}  // namespace

Tokenizer load_model_tokenizer(const std::string& model_path) {
  require_exists(model_path);
  if (is_folder(model_path)) {
    require(fs::exists(fs::path(model_path) / "tokenizer.json"), model_path,
            ": the model folder has no tokenizer.json, so text cannot be tokenized (give token ids with --tokens)");
    return Tokenizer::from_hf_json(model_path);
  }
  auto file = GgufFile::open(model_path);
  require(file->has("tokenizer.ggml.tokens"), model_path,
          ": the model file carries no tokenizer (no tokenizer.ggml.tokens metadata), so text cannot be "
          "tokenized (give token ids with --tokens)");
  return Tokenizer::from_gguf(model_path);
}

std::optional<std::string> read_chat_template(const std::string& model_path) {
  require_exists(model_path);
  if (!is_folder(model_path)) {
    auto file = GgufFile::open(model_path);
    const GgufValue* value = file->find("tokenizer.chat_template");
    if (value == nullptr) return std::nullopt;
    require(value->type == GgufType::STRING, model_path, ": metadata key tokenizer.chat_template is not a string");
    return value->string;
  }
  if (auto text = read_text_file(fs::path(model_path) / "chat_template.jinja")) return text;
  return template_from_tokenizer_config(fs::path(model_path) / "tokenizer_config.json");
}

ModelConfig read_model_config(const std::string& model_path) {
  require_exists(model_path);
  if (is_folder(model_path)) {
    const std::string config_path = (fs::path(model_path) / "config.json").string();
    require(fs::exists(config_path), model_path, ": not a model folder (no config.json)");
    return ModelConfig::from_hf_file(config_path);
  }
  return ModelConfig::from_gguf(*GgufFile::open(model_path));
}

std::optional<chat::ChatRules> chat_rules_from_template(std::string_view text) {
  const size_t switch_at = text.rfind("add_generation_prompt");
  if (switch_at == std::string_view::npos) return std::nullopt;
  const std::string_view generation_part = text.substr(switch_at);
  if (generation_part.find("<|turn>model") == std::string_view::npos) return std::nullopt;
  // Inside a Jinja string literal the newline is usually the escape "\n"; accept both.
  for (std::string_view block : {"<|channel>thought\\n<channel|>", "<|channel>thought\n<channel|>"})
    if (generation_part.find(block) != std::string_view::npos) return chat::ChatRules::Large;
  return chat::ChatRules::Small;
}

ChatRulesChoice choose_chat_rules(const std::optional<std::string>& template_text, const ModelConfig& config) {
  if (template_text) {
    if (auto rules = chat_rules_from_template(*template_text))
      return {*rules, *rules == chat::ChatRules::Large
                          ? "the model's chat template adds the empty thought block to its generation prompt"
                          : "the model's chat template adds no empty thought block to its generation prompt"};
  }
  const std::string why = template_text ? "the model's chat template has no Gemma 4 generation prompt"
                                        : "the model has no chat template";
  if (config.has_ple()) return {chat::ChatRules::Small, why + "; it has per-layer embeddings (E2B/E4B-like)"};
  return {chat::ChatRules::Large, why + "; it has no per-layer embeddings (12B/26B/31B-like)"};
}

ChatRulesChoice chat_rules_for_model(const std::string& model_path) {
  return choose_chat_rules(read_chat_template(model_path), read_model_config(model_path));
}

}  // namespace facet
