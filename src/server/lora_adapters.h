// LoRA adapters in `facet serve`, as llama-server has them: `--lora PATH[:SCALE]` loads
// adapters (ids 0, 1, ... in flag order) onto the models given with --model; a generation
// request may carry "lora": [{"id": 0, "scale": 0.5}, ...] (adapters it does not list run
// at scale 0 for it; no field = the server-wide scales); GET /lora-adapters lists
// [{"id", "path", "scale"}] and POST /lora-adapters with [{"id", "scale"}] sets the
// server-wide scales. The scheduler runs sequences with different scales in separate
// forward passes, so every request gets exactly the adapters it asked for.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "server/http_util.h"
#include "server/server_options.h"

namespace httplib {
class Server;
}

namespace facet {
struct Model;
}

namespace facet::server {

struct ServerContext;

// The adapters named by --lora and their server-wide scales (thread-safe).
class ServerLoras {
 public:
  explicit ServerLoras(const ServerOptions& options);

  size_t size() const { return paths_.size(); }
  const std::vector<std::string>& paths() const { return paths_; }
  // The scales given with --lora (0 with --lora-init-without-apply): what attach uses.
  const std::vector<double>& initial_scales() const { return initial_; }
  std::vector<double> scales() const;
  void set_scales(std::vector<double> scales);
  // [{"id", "path", "scale"}] with the server-wide scales.
  Json to_json() const;

  // llama-server's list [{"id": N, "scale": S}, ...] as one scale per adapter: listed ids
  // get their scale, the others 0. 400 (HttpError) for anything but such a list, an id
  // that names no adapter, or a scale that is not a finite number.
  std::vector<double> parse(const Json& list) const;

 private:
  std::vector<std::string> paths_;
  std::vector<double> initial_;
  mutable std::mutex mutex_;
  std::vector<double> scales_;
};

// The scales a generation request runs with: its "lora" field (top level, for the OpenAI
// and the Ollama routes alike) parsed by ServerLoras::parse, else the server-wide scales.
std::vector<double> request_lora_scales(const ServerLoras& loras, const Json& body);

// Loads every adapter against `model` and attaches it at its initial scale; returns the
// setter the scheduler calls before each forward pass. Throws Error (naming the adapter)
// when one cannot be read, matches no tensor of the model, or does not fit it.
std::function<void(const std::vector<double>&)> attach_server_loras(Model& model, const ServerLoras& loras);

// GET and POST /lora-adapters (errors in the OpenAI shape, as llama-server answers).
void add_lora_routes(httplib::Server& http, ServerContext& ctx);

}  // namespace facet::server
