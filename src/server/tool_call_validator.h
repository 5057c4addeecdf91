// Decides, piece by piece, whether a model's answer is still the beginning of exactly one
// well-formed Gemma 4 tool call to one of the offered functions:
//   <|tool_call>call:NAME{key:<|"|>text<|"|>,n:42,list:[1,2],obj:{k:true}}<tool_call|>
// The core of tool_choice enforcement (tool_call_logit_filter.h asks it about every
// candidate token). The arguments are checked against the function's JSON-schema
// `parameters` by translating Gemma's syntax on the fly into JSON text and feeding that to
// JsonPrefixValidator, so both constraints share one schema engine: a bare key `city:`
// becomes `"city":`, the <|"|> token becomes `"`, and raw string bytes are JSON-escaped.
// The call is written in the canonical form only: bare keys, <|"|> strings, JSON literals
// (no whitespace outside strings, no "quoted" or unquoted-text values), which is what
// chat/tool_call_syntax.h reads back. String contents may not contain "<|" or "|>", so no
// text can spell a special marker that the output parser would then act on. Numbers are
// capped at 15 digits and a 2-digit exponent, so each reads back as a finite JSON number
// (an integer as an integer) and a model cannot write digits forever.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/http_util.h"
#include "server/json_prefix_validator.h"

namespace facet::server {

// A function the answer may call, with the JSON Schema of its arguments object.
struct ToolFunction {
  std::string name;
  Json parameters;  // {"type":"object",...}; an empty schema-less object when none was given
};

class ToolCallPrefixValidator {
 public:
  // The special tokens of the call syntax (ordinary text never stands in for them).
  enum class Special { CallOpen, CallClose, Quote };

  // `functions` must outlive the validator (and its copies) and not be moved.
  explicit ToolCallPrefixValidator(const std::vector<ToolFunction>* functions);

  // Each returns false if the output would no longer be a valid prefix; the state is then
  // unspecified (feed a copy when only asking).
  bool feed_special(Special s);
  bool feed(std::string_view text);
  // The whole call, through <tool_call|>, has been written.
  bool complete() const { return phase_ == Phase::Done; }
  // Inside a string value that takes any text: then any text without '|' is accepted,
  // which lets callers skip most of the checking.
  bool in_free_string() const;

 private:
  enum class Phase { Open, Prefix, Name, Args, Close, Done };
  bool feed_char(char c);
  bool args_char(char c);
  bool string_char(char c);
  bool number_limits(char c);
  bool json(char c) { return json_->feed(c); }
  bool start_arguments();

  const std::vector<ToolFunction>* functions_;
  Phase phase_ = Phase::Open;
  std::string text_;                          // "call:" so far, then the name so far
  const ToolFunction* function_ = nullptr;    // chosen once the name is complete
  std::optional<JsonPrefixValidator> json_;   // the arguments, as JSON
  std::vector<char> containers_;              // '{' / '[' open in the arguments
  bool expect_key_ = false;                   // in an object, where a key (or '}') comes next
  bool in_key_ = false;
  bool in_string_ = false;
  char last_string_byte_ = 0;                 // to refuse "<|" / "|>" across token borders
  bool in_number_ = false, in_exponent_ = false;
  int mantissa_digits_ = 0, exponent_digits_ = 0;
};

}  // namespace facet::server
