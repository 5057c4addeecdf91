#include "chat/tool_call_syntax.h"
#include "tokenizer/utf8.h"

namespace facet::chat {

namespace {

constexpr std::string_view kQuote = "<|\"|>";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim_ascii(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(std::string_view text) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i - start;
  };
  if (i < text.size() && text[i] == '-') ++i;
  size_t int_start = i;
  size_t int_digits = digits();
  if (int_digits == 0 || (int_digits > 1 && text[int_start] == '0')) return false;
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == text.size();
}

// Recursive descent over the Gemma value syntax. Every parse_* returns false when the
// text is not that construct; `pos_` is then meaningless and the caller gives up.
class GemmaValueReader {
 public:
  GemmaValueReader(std::string_view text, bool repair) : text_(text), repair_(repair) {}

  bool at_end() const { return pos_ >= text_.size(); }
  size_t position() const { return pos_; }

  void skip_space() {
    while (!at_end() && is_space(text_[pos_])) ++pos_;
  }

  bool parse_value(Json& out, int depth = 0) {
    if (depth > 64) return false;  // deeper than any real call: refuse rather than recurse
    skip_space();
    if (at_end()) return false;
    char c = text_[pos_];
    if (c == '{') return parse_object(out, depth);
    if (c == '[') return parse_array(out, depth);
    if (text_.substr(pos_, kQuote.size()) == kQuote) return parse_gemma_string(out);
    if (c == '"' || c == '\'') return parse_quoted(out, c);
    return parse_bare(out);
  }

  bool parse_object(Json& out, int depth) {
    ++pos_;  // '{'
    out = Json::object();
    while (true) {
      skip_space();
      if (at_end()) return repair_;
      if (text_[pos_] == '}') {
        ++pos_;
        return true;
      }
      std::string key;
      if (!parse_key(key)) return repair_ && at_end();  // a key cut off at the end is dropped
      skip_space();
      if (at_end()) return repair_;
      Json value;
      if (!parse_value(value, depth + 1)) return false;
      out[key] = std::move(value);
      skip_space();
      if (at_end()) return repair_;
      if (text_[pos_] == ',') {
        ++pos_;
      } else if (text_[pos_] != '}') {
        return false;
      }
    }
  }

  bool parse_array(Json& out, int depth) {
    ++pos_;  // '['
    out = Json::array();
    while (true) {
      skip_space();
      if (at_end()) return repair_;
      if (text_[pos_] == ']') {
        ++pos_;
        return true;
      }
      Json value;
      if (!parse_value(value, depth + 1)) return false;
      out.push_back(std::move(value));
      skip_space();
      if (at_end()) return repair_;
      if (text_[pos_] == ',') {
        ++pos_;
      } else if (text_[pos_] != ']') {
        return false;
      }
    }
  }

 private:
  // `key:` with the key bare, <|"|>-wrapped or quoted; leaves pos_ after the colon.
  bool parse_key(std::string& key) {
    Json quoted;
    if (text_.substr(pos_, kQuote.size()) == kQuote) {
      if (!parse_gemma_string(quoted)) return false;
      key = quoted.get<std::string>();
    } else if (text_[pos_] == '"' || text_[pos_] == '\'') {
      if (!parse_quoted(quoted, text_[pos_])) return false;
      key = quoted.get<std::string>();
    } else {
      size_t end = text_.find_first_of(":{}[],", pos_);
      if (end == std::string_view::npos) {
        pos_ = text_.size();
        return false;
      }
      key = std::string(trim_ascii(text_.substr(pos_, end - pos_)));
      pos_ = end;
      if (key.empty()) return false;
    }
    skip_space();
    if (at_end() || text_[pos_] != ':') return false;
    ++pos_;
    return true;
  }

  // An unterminated string at the end (repair): the string ends where the trailing run
  // of closing brackets begins, so the containers still close on them.
  void end_string_at_text_end(size_t content_start, Json& out) {
    size_t end = text_.size();
    while (end > content_start && (is_space(text_[end - 1]) || text_[end - 1] == '}' || text_[end - 1] == ']'))
      --end;
    out = std::string(text_.substr(content_start, end - content_start));
    pos_ = end;
  }

  bool parse_gemma_string(Json& out) {
    size_t start = pos_ + kQuote.size();
    size_t end = text_.find(kQuote, start);
    if (end == std::string_view::npos) {
      if (!repair_) return false;
      end_string_at_text_end(start, out);
      return true;
    }
    out = std::string(text_.substr(start, end - start));
    pos_ = end + kQuote.size();
    return true;
  }

  bool parse_quoted(Json& out, char quote) {
    size_t start = pos_ + 1, i = start;
    while (i < text_.size() && text_[i] != quote) i += (text_[i] == '\\') ? 2 : 1;
    if (i >= text_.size()) {
      if (!repair_) return false;
      end_string_at_text_end(start, out);
      return true;
    }
    std::string_view inner = text_.substr(start, i - start);
    pos_ = i + 1;
    if (quote == '"') {  // JSON escapes when they are valid JSON, the raw text otherwise
      Json decoded = Json::parse(text_.substr(start - 1, inner.size() + 2), nullptr, false);
      if (decoded.is_string()) {
        out = std::move(decoded);
        return true;
      }
    }
    std::string raw;
    for (size_t k = 0; k < inner.size(); ++k) {
      if (inner[k] == '\\' && k + 1 < inner.size() && inner[k + 1] == quote) ++k;
      raw += inner[k];
    }
    out = std::move(raw);
    return true;
  }

  // An unquoted value runs to the next , } or ]: a number, a literal, or text.
  bool parse_bare(Json& out) {
    size_t end = text_.find_first_of(",}]", pos_);
    if (end == std::string_view::npos) end = text_.size();
    std::string_view token = trim_ascii(text_.substr(pos_, end - pos_));
    pos_ = end;
    if (token.empty()) return false;
    if (token == "true" || token == "True") {
      out = true;
    } else if (token == "false" || token == "False") {
      out = false;
    } else if (token == "null" || token == "None") {
      out = nullptr;
    } else if (is_json_number(token)) {
      out = Json::parse(token, nullptr, false);
      if (out.is_discarded()) out = std::string(token);
    } else {
      out = std::string(token);
    }
    return true;
  }

  std::string_view text_;
  bool repair_;
  size_t pos_ = 0;
};

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.' || c == ':' || c == '/';
}

}  // namespace

std::optional<Json> parse_gemma_value(std::string_view raw, bool repair) {
  // JSON strings must be valid UTF-8 (nlohmann::json throws when dumping anything else),
  // and model output is not guaranteed to be: broken bytes become U+FFFD first.
  std::string text;
  utf8::append_lossy(text, raw, /*final=*/true);
  GemmaValueReader reader(text, repair);
  Json value;
  if (!reader.parse_value(value)) return std::nullopt;
  reader.skip_space();
  if (!reader.at_end()) return std::nullopt;
  return value;
}

std::optional<ParsedToolCall> parse_tool_call(std::string_view raw, bool repair) {
  std::string clean;  // valid UTF-8 only, as in parse_gemma_value
  utf8::append_lossy(clean, raw, /*final=*/true);
  std::string_view text = trim_ascii(clean);
  if (text.substr(0, 5) == "call:") text.remove_prefix(5);
  size_t brace = text.find('{');
  ParsedToolCall call;
  call.name = std::string(trim_ascii(text.substr(0, brace)));
  if (call.name.empty()) return std::nullopt;
  for (char c : call.name)
    if (!is_name_char(c)) return std::nullopt;
  if (brace == std::string_view::npos) {
    if (!repair) return std::nullopt;
    return call;  // `call:get_time` with no argument braces at all
  }

  GemmaValueReader reader(text.substr(brace), repair);
  Json arguments;
  if (!reader.parse_object(arguments, 0)) return std::nullopt;
  // What may follow the arguments: whitespace and stray closing braces, nothing else.
  std::string_view rest = text.substr(brace + reader.position());
  for (char c : rest)
    if (!is_space(c) && c != '}') return std::nullopt;
  call.arguments = std::move(arguments);
  return call;
}

}  // namespace facet::chat
