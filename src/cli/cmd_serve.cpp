// facet serve [--host 127.0.0.1] [--port 11434] [--models DIR] [--model PATH ...]
//             [--lora PATH[:SCALE] ...] [--lora-init-without-apply]
//             [--api-key KEY] [--ctx-size N] [--parallel N] [--max-queue N] [--max-body BYTES]
//             [--mmproj FILE] [--image-tokens N]
// Serves the Ollama API (/api/*) and the OpenAI API (/v1/*) on one port. Environment:
// FACET_HOST (host or host:port, like OLLAMA_HOST), FACET_MODELS, FACET_API_KEY,
// FACET_KEEP_ALIVE; flags win over the environment.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "cli/command.h"
#include "model/assistant.h"
#include "model/audio.h"
#include "model/vision.h"
#include "util/error.h"
#include "cli/common.h"
#include "cli/lora_flags.h"
#include "server/http_server.h"
#include "server/http_util.h"
#include "server/request_params.h"
#include "util/error.h"

namespace facet::cli {
namespace {

struct ServeArgs {
  server::ServerOptions options;
  std::string keep_alive;
  LoraFlags lora;
  bool verbose = false;
  bool no_default_model = false;
};

server::HttpServer* g_server = nullptr;

void on_signal(int) {
  if (g_server) g_server->stop();
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// FACET_HOST: "0.0.0.0", "0.0.0.0:8080", ":8080" or "http://host:port".
void apply_host_env(server::ServerOptions& o, const std::string& value) {
  std::string v = value;
  for (const char* scheme : {"http://", "https://"})
    if (v.rfind(scheme, 0) == 0) v.erase(0, std::strlen(scheme));
  // The port follows the last colon, except inside an IPv6 literal ("[::1]:8080").
  const size_t bracket = v.find(']');
  const size_t colon = v.rfind(':');
  const bool has_port = colon != std::string::npos &&
                        (bracket != std::string::npos ? colon > bracket : v.find(':') == colon);
  if (has_port) {
    const std::string port = v.substr(colon + 1);
    require(!port.empty() && port.find_first_not_of("0123456789") == std::string::npos && port.size() <= 5,
            "FACET_HOST: \"", value, "\" has an invalid port");
    o.port = std::stoi(port);
    v = v.substr(0, colon);
  }
  if (v.size() > 2 && v.front() == '[' && v.back() == ']') v = v.substr(1, v.size() - 2);
  if (!v.empty()) o.host = v;
}

int run_serve(ServeArgs& args, const CLI::App& cmd) {
  server::ServerOptions& o = args.options;
  if (cmd.count("--host") == 0 && cmd.count("--port") == 0 && !env("FACET_HOST").empty())
    apply_host_env(o, env("FACET_HOST"));
  if (cmd.count("--models") == 0) {
    if (!env("FACET_MODELS").empty()) o.models_dir = env("FACET_MODELS");
    else if (!env("HOME").empty()) o.models_dir = env("HOME") + "/.facet/models";
  }
  if (cmd.count("--api-key") == 0 && !env("FACET_API_KEY").empty()) o.api_key = env("FACET_API_KEY");
  if (args.keep_alive.empty()) args.keep_alive = env("FACET_KEEP_ALIVE");
  if (!args.keep_alive.empty()) {
    try {
      o.keep_alive_seconds = server::parse_keep_alive(server::Json(args.keep_alive));
    } catch (const server::HttpError& e) {
      fail("--keep-alive: ", e.message);
    }
  }
  require(o.port >= 0 && o.port <= 65535, "--port must be between 0 and 65535");
  require(o.ctx_size >= 16, "--ctx-size must be at least 16");
  require(o.parallel >= 1 && o.parallel <= 256, "--parallel must be between 1 and 256");
  require(o.max_queue >= 0, "--max-queue must not be negative");
  require(o.max_body >= 1024, "--max-body must be at least 1024 bytes");
  for (const std::string& path : o.model_paths)
    require(std::filesystem::exists(path), "--model ", path, ": no such file or folder");
  o.lora_adapters = lora_adapter_list(args.lora);
  require(o.lora_adapters.empty() || !o.model_paths.empty(),
          "--lora needs --model: adapters apply to the models given with --model");
  require(!o.lora_init_without_apply || !o.lora_adapters.empty(), "--lora-init-without-apply needs --lora");

  // Bare `facet serve` (no --model, --models or FACET_MODELS) also offers the bundled
  // default model, so Open WebUI / n8n users see a model that answers at once.
  if (o.model_paths.empty() && cmd.count("--models") == 0 && env("FACET_MODELS").empty() && !args.no_default_model) {
    const std::string bundled = bundled_default_model();
    if (!bundled.empty()) o.model_paths.push_back(bundled);
  }
  require(o.draft_max >= 1 && o.draft_max <= 64, "--draft-max must be between 1 and 64 (got ", o.draft_max, ")");
  require(o.draft_min >= 1 && o.draft_min <= o.draft_max, "--draft-min must be between 1 and --draft-max (",
          o.draft_max, "), got ", o.draft_min);
  if (!o.draft.empty() && o.draft != "lookup" && o.draft != "ngram" && o.draft != "prompt-lookup")
    require(is_assistant_model(o.draft), o.draft,
            ": facet serve --draft takes \"lookup\" or a Gemma 4 assistant drafter (a GGUF gemma4-assistant file or "
            "an HF gemma4_assistant folder); a separate draft model needs a cache per request, which only "
            "facet run/chat keep");
  if (!o.mmproj.empty()) {
    require(o.model_paths.size() == 1, "--mmproj goes with one --model (other models use the mmproj-NAME.gguf ",
            "beside them)");
    require(has_vision_tower(o.mmproj) || has_audio_tower(o.mmproj), "--mmproj ", o.mmproj,
            ": not a vision or audio projector (expected llama.cpp's mmproj GGUF or an HF folder with a ",
            "vision_config or audio_config)");
  }
  require(o.image_tokens == 0 || o.image_tokens == 70 || o.image_tokens == 140 || o.image_tokens == 280 ||
              o.image_tokens == 560 || o.image_tokens == 1120,
          "--image-tokens must be 70, 140, 280, 560 or 1120 (Gemma 4's image budgets), got ", o.image_tokens);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server
  server::HttpServer http(o);
  const int port = http.bind();
  g_server = &http;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::fprintf(stderr, "facet serve: listening on http://%s:%d (models: %s%s)%s\n", o.host.c_str(), port,
               o.models_dir.empty() ? "none" : o.models_dir.c_str(),
               o.model_paths.empty() ? "" : (", +" + std::to_string(o.model_paths.size()) + " by path").c_str(),
               o.api_key.empty() ? "" : ", API key required");
  for (size_t i = 0; i < o.lora_adapters.size(); ++i)
    std::fprintf(stderr, "facet serve: LoRA adapter %zu: %s (scale %g)\n", i, o.lora_adapters[i].first.c_str(),
                 o.lora_init_without_apply ? 0.0 : o.lora_adapters[i].second);
  if (o.host != "127.0.0.1" && o.host != "localhost" && o.host != "::1" && o.api_key.empty())
    std::fprintf(stderr, "facet serve: warning: listening beyond this machine without --api-key\n");
  std::fflush(stderr);
  http.run();
  g_server = nullptr;
  return 0;
}

const CommandRegistration kRegistration("serve", [](CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve models over the Ollama and OpenAI HTTP APIs");
  server::ServerOptions& o = args->options;
  cmd->add_option("--host", o.host, "Address to listen on (env FACET_HOST; 0.0.0.0 for every interface)")
      ->capture_default_str();
  cmd->add_option("--port", o.port, "Port (Ollama's by default)")->capture_default_str();
  cmd->add_flag("--no-default-model", args->no_default_model,
                "Do not offer the bundled default model when no --model/--models is given");
  cmd->add_option("--models", o.models_dir, "Folder of .gguf files and HF model folders (env FACET_MODELS; "
                                            "default ~/.facet/models)");
  cmd->add_option("--model", o.model_paths, "Also serve this .gguf file or HF folder (repeatable)");
  cmd->add_option("--api-key", o.api_key, "Require Authorization: Bearer KEY (env FACET_API_KEY)");
  cmd->add_option("-c,--ctx-size", o.ctx_size, "Context per sequence, in tokens")->capture_default_str();
  cmd->add_option("--parallel", o.parallel, "Sequences generated together per model")->capture_default_str();
  cmd->add_option("--max-queue", o.max_queue, "Requests waiting per model before 503")->capture_default_str();
  cmd->add_option("--max-body", o.max_body, "Largest request body in bytes (413 above)")->capture_default_str();
  cmd->add_option("-t,--threads", o.threads, "Compute threads per model (0: all cores)");
  cmd->add_option("--keep-alive", args->keep_alive,
                  "How long an idle model stays loaded (\"5m\", \"1h\", \"-1\" forever, \"0\"; env FACET_KEEP_ALIVE)");
  add_lora_flags(*cmd, args->lora);
  cmd->add_flag("--lora-init-without-apply", o.lora_init_without_apply,
                "Load the --lora adapters with scale 0 (turn them on with POST /lora-adapters or a request's lora)");
  cmd->add_flag("--think", o.think_default, "Thinking on when a request does not say (default off)");
  cmd->add_option("--draft,--model-draft", o.draft,
                  "Speculative decoding: \"lookup\", or a Gemma 4 assistant drafter (used for the models it fits); "
                  "default: NAME-assistant.gguf beside each model");
  cmd->add_option("--draft-max", o.draft_max,
                  "Draft tokens checked per step at most (1-64; each step checks as many as the request's acceptance "
                  "so far makes worth it)")
      ->capture_default_str();
  cmd->add_option("--draft-min", o.draft_min, "Draft tokens checked per step at least")->capture_default_str();
  cmd->add_flag("--no-draft", o.no_draft, "No speculative decoding, even with a drafter beside a model");
  cmd->add_option("--mmproj", o.mmproj,
                  "Vision/audio projector of the --model model (llama.cpp's mmproj GGUF or an HF folder); default: "
                  "mmproj-NAME.gguf, NAME-mmproj.gguf or mmproj.gguf beside each model");
  cmd->add_option("--image-tokens", o.image_tokens, "Soft tokens per image: 70, 140, 280 (default), 560 or 1120");
  return [args, cmd] { return run_serve(*args, *cmd); };
});

}  // namespace
}  // namespace facet::cli
