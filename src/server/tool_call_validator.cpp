#include "server/tool_call_validator.h"

#include <cstdio>
#include <cstring>

namespace facet::server {
namespace {

constexpr std::string_view kCallPrefix = "call:";

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// A character of a bare key: anything the call reader would not take as structure or
// quoting, and nothing that would need escaping in the JSON translation.
bool bare_key_char(char c) {
  return static_cast<unsigned char>(c) >= 0x20 && !is_ws(c) && !std::strchr(":{}[],\"'\\<|>", c);
}

}  // namespace

ToolCallPrefixValidator::ToolCallPrefixValidator(const std::vector<ToolFunction>* functions)
    : functions_(functions) {}

bool ToolCallPrefixValidator::in_free_string() const {
  return phase_ == Phase::Args && in_string_ && json_->in_free_string();
}

bool ToolCallPrefixValidator::feed_special(Special s) {
  switch (phase_) {
    case Phase::Open:
      if (s != Special::CallOpen) return false;
      phase_ = Phase::Prefix;
      return true;
    case Phase::Close:
      if (s != Special::CallClose) return false;
      phase_ = Phase::Done;
      return true;
    case Phase::Args:
      if (s != Special::Quote || in_key_) return false;
      if (in_string_) {
        in_string_ = false;
        return json('"');
      }
      if (expect_key_) return false;  // keys are bare
      in_string_ = true;
      last_string_byte_ = 0;
      return json('"');
    default: return false;
  }
}

bool ToolCallPrefixValidator::feed(std::string_view text) {
  for (char c : text)
    if (!feed_char(c)) return false;
  return true;
}

bool ToolCallPrefixValidator::start_arguments() {
  for (const ToolFunction& f : *functions_)
    if (f.name == text_) function_ = &f;
  if (!function_) return false;
  json_.emplace(&function_->parameters, &function_->parameters);
  phase_ = Phase::Args;
  containers_.push_back('{');
  expect_key_ = true;
  return json('{');
}

bool ToolCallPrefixValidator::feed_char(char c) {
  switch (phase_) {
    case Phase::Prefix:
      if (kCallPrefix[text_.size()] != c) return false;
      text_ += c;
      if (text_.size() == kCallPrefix.size()) {
        text_.clear();
        phase_ = Phase::Name;
      }
      return true;
    case Phase::Name: {
      if (c == '{') return start_arguments();
      text_ += c;
      for (const ToolFunction& f : *functions_)
        if (f.name.compare(0, text_.size(), text_) == 0) return true;
      return false;
    }
    case Phase::Args: return in_string_ ? string_char(c) : args_char(c);
    default: return false;  // Open, Close and Done take special tokens only
  }
}

// A raw byte of a <|"|> string, as its JSON spelling.
bool ToolCallPrefixValidator::string_char(char c) {
  const char previous = last_string_byte_;
  last_string_byte_ = c;
  if ((previous == '<' && c == '|') || (previous == '|' && c == '>')) return false;
  if (c == '"') return json('\\') && json('"');
  if (c == '\\') return json('\\') && json('\\');
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20) return json(c);
  if (c == '\n') return json('\\') && json('n');
  if (c == '\t') return json('\\') && json('t');
  if (c == '\r') return json('\\') && json('r');
  char escaped[8];
  std::snprintf(escaped, sizeof escaped, "\\u%04x", byte);
  return json_->feed(std::string_view(escaped, 6));
}

bool ToolCallPrefixValidator::number_limits(char c) {
  const bool digit = c >= '0' && c <= '9';
  if (!in_number_) {
    if (!digit && c != '-') return true;  // a literal (true, false, null), not a number
    in_number_ = true;
    in_exponent_ = false;
    mantissa_digits_ = exponent_digits_ = 0;
  }
  if (c == 'e' || c == 'E') in_exponent_ = true;
  else if (digit) return in_exponent_ ? ++exponent_digits_ <= 2 : ++mantissa_digits_ <= 15;
  return true;
}

bool ToolCallPrefixValidator::args_char(char c) {
  if (c == ',' || c == '}' || c == ']') in_number_ = false;  // what ends a number here
  if (in_key_) {
    if (c == ':') {
      in_key_ = false;
      expect_key_ = false;
      return json('"') && json(':');
    }
    return bare_key_char(c) && json(c);
  }
  if (expect_key_) {
    if (c == '}') {
      expect_key_ = false;
      containers_.pop_back();
      if (containers_.empty()) phase_ = Phase::Close;
      return json('}');
    }
    if (!bare_key_char(c)) return false;
    in_key_ = true;
    return json('"') && json(c);
  }
  switch (c) {
    case '{':
      containers_.push_back('{');
      expect_key_ = true;
      return json(c);
    case '[': containers_.push_back('['); return json(c);
    case '}': case ']':
      if (containers_.back() != (c == '}' ? '{' : '[')) return false;
      containers_.pop_back();
      if (containers_.empty()) phase_ = Phase::Close;
      return json(c);
    case ',':
      expect_key_ = containers_.back() == '{';
      return json(c);
    case '"': return false;  // strings are written with the <|"|> token
    default:
      if (is_ws(c)) return false;  // the canonical form has none; a model cannot pad forever
      return number_limits(c) && json(c);
  }
}

}  // namespace facet::server
