#include "server/model_info.h"

#include <cstdio>
#include <functional>

#include "engine/model_files.h"
#include "util/error.h"

namespace facet::server {

std::string model_digest(const ModelEntry& entry) {
  std::string out;
  const std::string key = entry.path + "|" + std::to_string(entry.size) + "|" + std::to_string(entry.modified_ns);
  for (int round = 0; round < 4; ++round) {
    char part[17];
    std::snprintf(part, sizeof part, "%016zx", std::hash<std::string>{}(key + char('a' + round)));
    out += part;
  }
  return out;
}

Json model_details(const ModelEntry& entry) {
  return Json{{"parent_model", ""},
              {"format", entry.is_gguf ? "gguf" : "safetensors"},
              {"family", "gemma4"},
              {"families", Json::array({"gemma4"})},
              {"parameter_size", ""},
              {"quantization_level", ""}};
}

Json tags_entry(const ModelEntry& entry) {
  return Json{{"name", entry.name},
              {"model", entry.name},
              {"modified_at", rfc3339(entry.modified_ns)},
              {"size", entry.size},
              {"digest", model_digest(entry)},
              {"details", model_details(entry)}};
}

Json show_model(const ModelEntry& entry, bool vision, bool audio) {
  ModelConfig config;
  std::optional<std::string> chat_template;
  try {
    config = read_model_config(entry.path);
    chat_template = read_chat_template(entry.path);
  } catch (const Error& e) {
    throw_http(500, "model '" + entry.name + "' could not be read: " + e.what());
  }
  Json info{{"general.architecture", "gemma4"},
            {"gemma4.context_length", config.max_context},
            {"gemma4.embedding_length", config.hidden_size},
            {"gemma4.block_count", config.n_layers},
            {"gemma4.vocab_size", config.vocab_size}};
  Json capabilities = Json::array({"completion", "tools", "thinking", "embedding"});
  if (vision) capabilities.push_back("vision");
  if (audio) capabilities.push_back("audio");
  return Json{{"license", ""},
              {"modelfile", "# facet serves " + entry.path + "\nFROM " + entry.path + "\n"},
              {"parameters", "temperature 1\ntop_k 64\ntop_p 0.95"},
              {"template", chat_template.value_or("")},
              {"details", model_details(entry)},
              {"model_info", info},
              {"capabilities", std::move(capabilities)},
              {"modified_at", rfc3339(entry.modified_ns)}};
}

}  // namespace facet::server
