#include "server/http_util.h"

#include <httplib.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <random>

namespace facet::server {
namespace {

const char* openai_type(int status) {
  switch (status) {
    case 400: case 413: case 422: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 503: return "unavailable_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

}  // namespace

void throw_http(int status, std::string message, std::string code) {
  throw HttpError{status, std::move(message), std::move(code)};
}

std::string error_body(Api api, int status, const std::string& message, const std::string& code) {
  Json body;
  if (api == Api::Ollama) {
    body["error"] = message;
  } else {
    body["error"] = {{"message", message}, {"type", openai_type(status)}, {"param", nullptr},
                     {"code", code.empty() ? Json(nullptr) : Json(code)}};
  }
  return dump(body);
}

void send_error(Api api, httplib::Response& res, int status, const std::string& message, const std::string& code) {
  res.status = status;
  res.set_content(error_body(api, status, message, code), "application/json");
}

Api api_for_path(std::string_view path) { return path.substr(0, 4) == "/v1/" ? Api::OpenAI : Api::Ollama; }

std::string dump(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

void send_json(httplib::Response& res, const Json& value, int status) {
  res.status = status;
  res.set_content(dump(value), "application/json; charset=utf-8");
}

Json parse_body(const httplib::Request& req) {
  Json body;
  try {
    body = Json::parse(req.body);
  } catch (const std::exception& e) {
    // nlohmann's message names the byte position, which is what a client needs.
    throw_http(400, std::string("invalid JSON in the request body: ") + e.what());
  }
  if (!body.is_object()) throw_http(400, "the request body must be a JSON object");
  return body;
}

const Json* get_field(const Json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(std::string(key));
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::optional<std::string> get_string(const Json& object, std::string_view key) {
  const Json* v = get_field(object, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw_http(400, "field \"" + std::string(key) + "\" must be a string, got " + dump(*v));
  return v->get<std::string>();
}

std::optional<bool> get_bool(const Json& object, std::string_view key) {
  const Json* v = get_field(object, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw_http(400, "field \"" + std::string(key) + "\" must be true or false, got " + dump(*v));
  return v->get<bool>();
}

std::optional<double> get_number(const Json& object, std::string_view key) {
  const Json* v = get_field(object, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw_http(400, "field \"" + std::string(key) + "\" must be a number, got " + dump(*v));
  const double d = v->get<double>();
  if (!std::isfinite(d)) throw_http(400, "field \"" + std::string(key) + "\" must be a finite number");
  return d;
}

std::optional<int64_t> get_integer(const Json& object, std::string_view key) {
  const Json* v = get_field(object, key);
  if (!v) return std::nullopt;
  // Clients send 1.0 for integers now and then; accept whole numbers in range.
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      throw_http(400, "field \"" + std::string(key) + "\" is too large");
    return v->get<int64_t>();
  }
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
  }
  throw_http(400, "field \"" + std::string(key) + "\" must be an integer, got " + dump(*v));
}

int64_t now_unix_nanoseconds() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t now_unix_seconds() { return now_unix_nanoseconds() / 1000000000; }

std::string rfc3339(int64_t ns) {
  const std::time_t seconds = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char head[32], out[48];
  std::strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(out, sizeof out, "%s.%09lldZ", head, static_cast<long long>(ns % 1000000000));
  return out;
}

std::string random_id(size_t hex_chars) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < hex_chars; ++i) out += digits[rng() % 16];
  return out;
}

}  // namespace facet::server
