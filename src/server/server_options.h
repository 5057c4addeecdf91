// Settings of `facet serve` (flags and environment, see src/cli/cmd_serve.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace facet::server {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless the user says otherwise
  int port = 11434;                // Ollama's port, so clients find us unchanged
  std::string models_dir;          // .gguf files and HF folders; "" = none
  std::vector<std::string> model_paths;  // extra models named by path (--model)
  // LoRA adapters (--lora PATH[:SCALE]) applied to the --model models, ids in this order.
  std::vector<std::pair<std::string, double>> lora_adapters;
  bool lora_init_without_apply = false;  // load them with scale 0 (POST /lora-adapters turns them on)
  std::string api_key;             // "" = no authentication
  int64_t ctx_size = 4096;         // positions per sequence (prompt + answer)
  int parallel = 4;                // sequences decoded together per model
  int64_t max_queue = 64;          // waiting requests per model before 503
  size_t max_body = 32u << 20;     // request body bytes (base64 images are the big ones)
  int threads = 0;                 // compute threads per model; <= 0 = all cores
  double keep_alive_seconds = 300; // default keep_alive; negative = forever
  bool think_default = false;      // thinking when a request does not say
  // Speculative decoding: "lookup" (every model), a Gemma 4 assistant drafter (the models
  // it fits), or "" for the NAME-assistant.gguf beside each model, unless no_draft.
  std::string draft;
  int draft_min = 1;  // draft tokens per step between these (engine/draft_length.h)
  int draft_max = 8;
  bool no_draft = false;
  // Images and audio: the projector (llama.cpp's mmproj GGUF or an HF folder) of the one --model
  // model; "" = each model's own, found beside it (default_mmproj_path).
  std::string mmproj;
  int image_tokens = 0;            // soft tokens per image (70 ... 1120); 0 = the tower's default (280)
  std::string version = "0.12.0";  // Ollama-like semver: clients feature-gate on it
};

}  // namespace facet::server
