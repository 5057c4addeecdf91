// Runs facet's HTTP server in the test process on a free loopback port, serving a models
// folder that holds the tiny real-vocabulary model as "tiny".
#pragma once

#include <httplib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "server/http_server.h"
#include "support/paths.h"
#include "support/temp_dir.h"

namespace facet::test {

inline std::string realvocab_model() { return data_dir() + "/models/gemma4-tiny-realvocab-f16.gguf"; }

class TestServer {
 public:
  // `edit` adjusts the options (limits, API key) before the server starts.
  template <typename Edit>
  explicit TestServer(Edit edit) {
    std::filesystem::create_symlink(realvocab_model(), dir_.file("tiny.gguf"));
    server::ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.models_dir = dir_.path();
    o.ctx_size = 512;
    o.parallel = 4;
    o.threads = 2;
    o.max_body = 64 * 1024;
    edit(o);
    server_ = std::make_unique<server::HttpServer>(o);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->run(); });
  }
  TestServer() : TestServer([](server::ServerOptions&) {}) {}
  ~TestServer() {
    server_->stop();
    thread_.join();
  }

  int port() const { return port_; }
  const TempDir& dir() const { return dir_; }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120, 0);
    return c;
  }

 private:
  TempDir dir_;
  std::unique_ptr<server::HttpServer> server_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace facet::test
