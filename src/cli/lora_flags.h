// --lora PATH[:SCALE] (repeatable) and llama.cpp's --lora-scaled PATH SCALE: LoRA adapters
// applied at inference by `facet run`, `facet chat` and `facet logits`.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace CLI {
class App;
}

namespace facet {
struct Model;
}

namespace facet::cli {

struct LoraFlags {
  std::vector<std::string> lora;                          // "PATH" or "PATH:SCALE"
  std::vector<std::pair<std::string, double>> lora_scaled;  // --lora-scaled PATH SCALE
};

void add_lora_flags(CLI::App& command, LoraFlags& flags);

// Loads every adapter named by the flags against `model` and attaches them (nothing to do
// when none are given). With `verbose`, one line per adapter on stderr.
void apply_lora_flags(Model& model, const LoraFlags& flags, bool verbose);

}  // namespace facet::cli
