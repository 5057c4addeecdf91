#include "server/request_params.h"

#include <charconv>
#include <cmath>
#include <random>

#include "util/error.h"

namespace facet::server {
namespace {

void read_sampling(const Json& from, GenerationParams& p) {
  if (auto v = get_number(from, "temperature")) p.sampling.temperature = *v;
  if (auto v = get_integer(from, "top_k")) p.sampling.top_k = static_cast<int>(std::clamp<int64_t>(*v, 0, 1 << 30));
  if (auto v = get_number(from, "top_p")) p.sampling.top_p = *v;
  if (auto v = get_number(from, "min_p")) p.sampling.min_p = *v;
  if (auto v = get_integer(from, "seed"); v && *v >= 0) p.sampling.seed = static_cast<uint64_t>(*v);
  if (auto v = get_number(from, "repeat_penalty")) p.sampling.repeat_penalty = *v;
  if (auto v = get_integer(from, "repeat_last_n")) p.sampling.repeat_last_n = *v;
  if (auto v = get_number(from, "presence_penalty")) p.sampling.presence_penalty = *v;
  if (auto v = get_number(from, "frequency_penalty")) p.sampling.frequency_penalty = *v;
  try {
    validate(p.sampling);
  } catch (const Error& e) {
    throw_http(400, e.what());
  }
}

std::vector<std::string> read_stop(const Json& from) {
  const Json* stop = get_field(from, "stop");
  if (!stop) return {};
  if (stop->is_string()) return {stop->get<std::string>()};
  if (!stop->is_array()) throw_http(400, "field \"stop\" must be a string or a list of strings");
  std::vector<std::string> out;
  for (const Json& s : *stop) {
    if (!s.is_string()) throw_http(400, "field \"stop\" must be a list of strings, got " + dump(s));
    if (!s.get_ref<const std::string&>().empty()) out.push_back(s.get<std::string>());
  }
  return out;
}

std::optional<int64_t> positive_limit(std::optional<int64_t> value, const char* key) {
  if (!value) return std::nullopt;
  if (*value < 0) return std::nullopt;  // Ollama: -1 = no limit, -2 = fill the context
  if (*value == 0) throw_http(400, std::string("field \"") + key + "\" must be at least 1");
  return value;
}

const Json kAnyObject = Json{{"type", "object"}};

int read_top_logprobs(const Json& body, int max) {
  const std::optional<int64_t> n = get_integer(body, "top_logprobs");
  if (n && (*n < 0 || *n > max))
    throw_http(400, "field \"top_logprobs\" must be between 0 and " + std::to_string(max));
  return static_cast<int>(n.value_or(0));
}

// OpenAI chat: logprobs (bool) + top_logprobs; /v1/completions: logprobs is the count (0-5).
int openai_top_logprobs(const Json& body) {
  const Json* logprobs = get_field(body, "logprobs");
  if (logprobs && logprobs->is_number_integer()) {
    const int64_t n = logprobs->get<int64_t>();
    if (n < 0 || n > 5) throw_http(400, "field \"logprobs\" must be between 0 and 5");
    return static_cast<int>(n);
  }
  if (get_bool(body, "logprobs").value_or(false)) return read_top_logprobs(body, kMaxTopLogprobs);
  if (get_field(body, "top_logprobs")) {
    read_top_logprobs(body, kMaxTopLogprobs);  // its own type and range errors first
    throw_http(400, "field \"top_logprobs\" needs \"logprobs\": true");
  }
  return -1;
}

// {"token id": bias, ...} with biases in [-100, 100], as OpenAI defines logit_bias.
std::vector<std::pair<int32_t, float>> read_logit_bias(const Json& body) {
  const Json* bias = get_field(body, "logit_bias");
  if (!bias) return {};
  if (!bias->is_object()) throw_http(400, "field \"logit_bias\" must be an object of token id -> bias");
  std::vector<std::pair<int32_t, float>> out;
  for (const auto& [key, value] : bias->items()) {
    int32_t id = -1;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (ec != std::errc() || end != key.data() + key.size() || id < 0)
      throw_http(400, "logit_bias key \"" + key + "\" is not a token id");
    if (!value.is_number() || !(value.get<double>() >= -100 && value.get<double>() <= 100))
      throw_http(400, "logit_bias for token " + key + " must be a number between -100 and 100");
    out.emplace_back(id, value.get<float>());
  }
  return out;
}

}  // namespace

GenerationParams default_params() {
  GenerationParams p;
  p.sampling.temperature = 1.0;
  p.sampling.top_k = 64;
  p.sampling.top_p = 0.95;
  p.sampling.seed = std::random_device{}();
  return p;
}

GenerationParams ollama_params(const Json& body) {
  GenerationParams p = default_params();
  if (const Json* options = get_field(body, "options")) {
    if (!options->is_object()) throw_http(400, "field \"options\" must be an object");
    read_sampling(*options, p);
    p.max_tokens = positive_limit(get_integer(*options, "num_predict"), "num_predict");
    if (auto ctx = get_integer(*options, "num_ctx")) {
      if (*ctx < 1) throw_http(400, "field \"num_ctx\" must be at least 1");
      p.num_ctx = *ctx;
    }
    p.stop = read_stop(*options);
  }
  if (const Json* format = get_field(body, "format")) {
    if (format->is_string()) {
      const std::string& f = format->get_ref<const std::string&>();
      if (f == "json") p.schema = kAnyObject;
      else if (!f.empty()) throw_http(400, "field \"format\" must be \"json\" or a JSON Schema object");
    } else if (format->is_object()) {
      p.schema = *format;
    } else {
      throw_http(400, "field \"format\" must be \"json\" or a JSON Schema object");
    }
  }
  // Ollama's logprobs (bool) and top_logprobs (0-20, used only with logprobs).
  if (get_bool(body, "logprobs").value_or(false)) p.top_logprobs = read_top_logprobs(body, kMaxTopLogprobs);
  return p;
}

std::optional<Json> schema_from_response_format(const Json& format) {
  if (!format.is_object()) throw_http(400, "response_format must be an object");
  const std::string type = get_string(format, "type").value_or("text");
  if (type == "text") return std::nullopt;
  if (type == "json_object") return kAnyObject;
  if (type != "json_schema") throw_http(400, "response_format.type must be text, json_object or json_schema");
  const Json* holder = get_field(format, "json_schema");
  const Json& spec = holder ? *holder : format;
  const Json* schema = get_field(spec, "schema");
  if (!schema) return kAnyObject;
  if (!schema->is_object()) throw_http(400, "response_format json_schema.schema must be an object");
  return *schema;
}

GenerationParams openai_params(const Json& body, const char* max_tokens_key) {
  GenerationParams p = default_params();
  read_sampling(body, p);
  if (max_tokens_key) {
    p.max_tokens = positive_limit(get_integer(body, max_tokens_key), max_tokens_key);
  } else {
    p.max_tokens = positive_limit(get_integer(body, "max_completion_tokens"), "max_completion_tokens");
    if (!p.max_tokens) p.max_tokens = positive_limit(get_integer(body, "max_tokens"), "max_tokens");
  }
  if (auto n = get_integer(body, "n"); n && *n != 1) throw_http(400, "only n = 1 is supported");
  p.sampling.logit_bias = read_logit_bias(body);
  p.top_logprobs = openai_top_logprobs(body);
  p.stop = read_stop(body);
  if (const Json* format = get_field(body, "response_format")) p.schema = schema_from_response_format(*format);
  return p;
}

double parse_keep_alive(const Json& value) {
  if (value.is_number()) {
    const double s = value.get<double>();
    if (!std::isfinite(s)) throw_http(400, "keep_alive must be a finite number of seconds");
    return s;
  }
  if (!value.is_string()) throw_http(400, "keep_alive must be a duration string or a number of seconds");
  const std::string& text = value.get_ref<const std::string&>();
  size_t i = 0;
  double sign = 1;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) sign = text[i++] == '-' ? -1 : 1;
  if (i == text.size()) throw_http(400, "keep_alive \"" + text + "\" is not a duration (e.g. \"5m\", \"1h30m\")");
  double total = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
    if (start == i) throw_http(400, "keep_alive \"" + text + "\" is not a duration (e.g. \"5m\", \"1h30m\")");
    const double number = std::strtod(text.substr(start, i - start).c_str(), nullptr);
    size_t unit_start = i;
    while (i < text.size() && !std::isdigit(static_cast<unsigned char>(text[i])) && text[i] != '.') ++i;
    const std::string unit = text.substr(unit_start, i - unit_start);
    double scale;
    if (unit.empty() && unit_start == text.size()) scale = 1;  // a bare number: seconds
    else if (unit == "ns") scale = 1e-9;
    else if (unit == "us" || unit == "\xC2\xB5s") scale = 1e-6;
    else if (unit == "ms") scale = 1e-3;
    else if (unit == "s") scale = 1;
    else if (unit == "m") scale = 60;
    else if (unit == "h") scale = 3600;
    else throw_http(400, "keep_alive \"" + text + "\" has an unknown unit \"" + unit + "\"");
    total += number * scale;
  }
  return sign * total;
}

}  // namespace facet::server
