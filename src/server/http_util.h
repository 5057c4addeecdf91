// Shared pieces of the HTTP layer: the two APIs' error formats, JSON helpers that never
// throw on odd text, and request field readers that turn wrong types into 400s.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace facet::server {

// Insertion-ordered, so responses list their fields in the order clients know them by.
using Json = nlohmann::ordered_json;

enum class Api { Ollama, OpenAI };

// An error with its HTTP status; `code` is OpenAI's error.code (e.g. "model_not_found").
struct HttpError {
  int status = 400;
  std::string message;
  std::string code;
};

[[noreturn]] void throw_http(int status, std::string message, std::string code = {});

// The error body in each API's own shape: Ollama {"error": "..."}; OpenAI
// {"error": {"message", "type", "param", "code"}}.
std::string error_body(Api api, int status, const std::string& message, const std::string& code = {});
void send_error(Api api, httplib::Response& res, int status, const std::string& message,
                const std::string& code = {});
// Which API a path belongs to (/v1/... speaks OpenAI, the rest Ollama's format).
Api api_for_path(std::string_view path);

// Serializes without throwing on invalid UTF-8 (replaced by U+FFFD): model output and
// client strings end up in responses.
std::string dump(const Json& value);
void send_json(httplib::Response& res, const Json& value, int status = 200);

// The request body as a JSON object; 400 on malformed JSON or a non-object.
Json parse_body(const httplib::Request& req);

// Field readers: absent or null gives nullopt; a wrong type is a 400 naming the field.
std::optional<std::string> get_string(const Json& object, std::string_view key);
std::optional<bool> get_bool(const Json& object, std::string_view key);
std::optional<double> get_number(const Json& object, std::string_view key);
std::optional<int64_t> get_integer(const Json& object, std::string_view key);
const Json* get_field(const Json& object, std::string_view key);  // nullptr when absent/null

// RFC 3339 with nanoseconds in UTC, as Ollama writes created_at / modified_at.
std::string rfc3339(int64_t unix_nanoseconds);
int64_t now_unix_nanoseconds();
int64_t now_unix_seconds();
// A random identifier suffix ("chatcmpl-" + this), hex.
std::string random_id(size_t hex_chars = 24);

}  // namespace facet::server
