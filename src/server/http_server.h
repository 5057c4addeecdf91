// `facet serve`'s HTTP server: the Ollama API (/api/*), the OpenAI API (/v1/*) and the
// extras (/, /health, /metrics, /apply-template) on one port, with the API key check,
// CORS for browser clients, body size limit and a sweeper that unloads idle models.
#pragma once

#include <memory>
#include <string>

#include "server/server_options.h"

namespace facet::server {

class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();

  // Binds host:port (port 0 = any free port); returns the port, throws Error on failure.
  int bind();
  // Serves until stop(); call after bind().
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace facet::server
