#include "server/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/lora_adapters.h"
#include "server/server_context.h"
#include "util/error.h"

namespace facet::server {
namespace {

// Browser clients (Open WebUI in a tab, extensions) on this machine may call us.
bool allowed_origin(const std::string& origin) {
  for (const char* prefix : {"http://localhost", "https://localhost", "http://127.0.0.1", "https://127.0.0.1",
                             "http://0.0.0.0", "http://[::1]", "app://", "file://", "tauri://"})
    if (origin.rfind(prefix, 0) == 0) return true;
  return false;
}

bool same_secret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;  // no early exit: the time taken says nothing about the key
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string presented_key(const httplib::Request& req) {
  const std::string auth = req.get_header_value("Authorization");
  if (auth.size() > 7 && (auth.rfind("Bearer ", 0) == 0 || auth.rfind("bearer ", 0) == 0)) return auth.substr(7);
  return req.get_header_value("x-api-key");
}

}  // namespace

struct HttpServer::Impl {
  explicit Impl(ServerOptions options) : ctx(std::move(options)) {}
  ServerContext ctx;
  httplib::Server http;
  std::thread sweeper;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
};

HttpServer::HttpServer(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  Impl& s = *impl_;
  ServerContext& ctx = s.ctx;
  // Each open stream holds a connection thread, so there must be threads for every slot
  // and every queued request, or queued requests would wait where no 503 can reach them.
  const size_t threads =
      static_cast<size_t>(std::clamp<int64_t>(ctx.options.parallel + ctx.options.max_queue + 16, 16, 1024));
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.http.set_payload_max_length(ctx.options.max_body);
  s.http.set_tcp_nodelay(true);  // a token per packet, now

  s.http.set_pre_routing_handler([&ctx](const httplib::Request& req, httplib::Response& res) {
    // `curl URL -d '{...}'`, as Ollama's documentation writes requests, labels the JSON body
    // application/x-www-form-urlencoded, and httplib (compiled into Debian's library) caps
    // such bodies at 8 KiB before any handler runs: a request with a base64 image would get
    // a 413. Every body facet reads is JSON, so the label is corrected before the body is
    // read (this handler runs first; the Request object itself is not const).
    if (req.get_header_value("Content-Type").starts_with("application/x-www-form-urlencoded")) {
      auto& headers = const_cast<httplib::Request&>(req).headers;
      headers.erase("Content-Type");
      headers.emplace("Content-Type", "application/json");
    }
    const std::string origin = req.get_header_value("Origin");
    if (!origin.empty() && allowed_origin(origin)) {
      res.set_header("Access-Control-Allow-Origin", origin);
      res.set_header("Vary", "Origin");
    }
    if (req.method == "OPTIONS") {  // CORS preflight
      res.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE, HEAD, OPTIONS");
      res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Api-Key, User-Agent");
      res.status = 204;
      return httplib::Server::HandlerResponse::Handled;
    }
    const bool open_path = req.path == "/" || req.path == "/health" || req.path == "/v1/health";
    if (!ctx.options.api_key.empty() && !open_path && !same_secret(presented_key(req), ctx.options.api_key)) {
      res.set_header("WWW-Authenticate", "Bearer");
      send_error(api_for_path(req.path), res, 401, "invalid or missing API key (send Authorization: Bearer KEY)",
                 "invalid_api_key");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Statuses httplib sets by itself (unknown route, body too large) get a body in the
  // API's own error format.
  s.http.set_error_handler(httplib::Server::HandlerWithResponse([&ctx](const httplib::Request& req,
                                                                         httplib::Response& res) {
    if (!res.body.empty() || res.status == 204) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    switch (res.status) {
      case 404: message = "not found: " + req.method + " " + req.path; break;
      case 405: message = "method not allowed: " + req.method + " " + req.path; break;
      case 413:
        message = "request body too large (the limit is " + std::to_string(ctx.options.max_body) + " bytes)";
        break;
      default: message = "request failed with HTTP status " + std::to_string(res.status); break;
    }
    send_error(api_for_path(req.path), res, res.status, message);
    return httplib::Server::HandlerResponse::Handled;
  }));
  s.http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(api_for_path(req.path), res, 500, "internal error: " + what);
  });
  s.http.set_logger([&ctx](const httplib::Request&, const httplib::Response& res) {
    ctx.metrics.http_requests += 1;
    if (res.status >= 400) ctx.metrics.http_errors += 1;
  });

  add_misc_routes(s.http, ctx);
  add_ollama_routes(s.http, ctx);
  add_openai_routes(s.http, ctx);
  add_responses_route(s.http, ctx);
  add_lora_routes(s.http, ctx);
  // --lora: the adapted models load now, so a bad adapter stops the server from starting.
  ctx.registry.preload_adapted_models();
}

HttpServer::~HttpServer() {
  stop();
  if (impl_->sweeper.joinable()) impl_->sweeper.join();
}

int HttpServer::bind() {
  const ServerOptions& o = impl_->ctx.options;
  int port = o.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
    require(port > 0, "could not listen on ", o.host, " (any port)");
  } else {
    require(impl_->http.bind_to_port(o.host, port), "could not listen on ", o.host, ":", port,
            " (in use? try --port, or stop the other server)");
  }
  return port;
}

void HttpServer::run() {
  impl_->sweeper = std::thread([this] {
    std::unique_lock<std::mutex> lock(impl_->mutex);
    while (!impl_->stopping) {
      impl_->wake.wait_for(lock, std::chrono::seconds(1));
      lock.unlock();
      impl_->ctx.registry.sweep();
      lock.lock();
    }
  });
  impl_->http.listen_after_bind();
}

void HttpServer::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->http.stop();
}

}  // namespace facet::server
