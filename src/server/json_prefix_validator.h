// Decides, character by character, whether text is still the beginning of a JSON value
// that satisfies a schema: the core of constrained decoding (json_logit_filter.h asks it
// about every candidate token's text).
//
// Enforced: the whole JSON grammar (RFC 8259, string values checked as UTF-8);
// from a schema: `type` (a name or a list: object, array, string, number, integer,
// boolean, null), `properties` (an object with `properties` only takes those keys, unless
// `additionalProperties` is true or a schema), `required` (the object cannot close before
// they appear), `additionalProperties` (false / schema), `items`, `minItems`/`maxItems`,
// `enum` and `const` (the value's compact JSON text must be one of them), `$ref` to
// `#/$defs/...` or `#/definitions/...`, and `anyOf`/`oneOf` by the first alternative whose
// type fits the value's first character (so alternatives of the same type are not
// distinguished), string `minLength`/`maxLength` (in characters: code points, an escape
// counting as one); string values must be valid UTF-8 (a stray or missing continuation
// byte is refused, so a byte-token run cannot dodge the length count). Not enforced: string `pattern`/`format`, number
// ranges, `uniqueItems`, `not`, `allOf`, `if`/`then`. Runs of whitespace outside strings are
// capped so a model cannot loop on them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/http_util.h"

namespace facet::server {

class JsonPrefixValidator {
 public:
  // `schema` and `root` (for $ref) must outlive the validator; nullptr = any JSON value.
  JsonPrefixValidator(const Json* schema, const Json* root);

  // Takes one more byte; false if the text would no longer be a valid prefix (the state is
  // then unspecified: feed a copy when only asking).
  bool feed(char c);
  bool feed(std::string_view text);
  // The text so far is one complete value (trailing whitespace allowed).
  bool complete() const;
  // Inside a free string (no enum, no key restriction): any text without '"', '\\' or
  // control bytes is then accepted, which lets callers skip most of the checking.
  bool in_free_string() const;

 private:
  enum class Phase : uint8_t {
    RootValue, RootDone,
    ObjStart, ObjKey, ObjColon, ObjValue, ObjAfterValue, ObjNextKey,
    ArrStart, ArrValue, ArrAfterValue,
  };
  enum class Scalar : uint8_t { None, String, Number, Literal, Enum };
  struct Frame {
    const Json* schema = nullptr;        // the object's/array's schema (resolved)
    const Json* value_schema = nullptr;  // object: schema of the value being read
    Phase phase = Phase::RootValue;
    int32_t count = 0;                   // array: values so far
    int32_t key_index = -1;              // object: index in `properties` of the key being read
    uint64_t seen = 0;                   // object: properties seen (by index, first 64)
  };

  bool feed_structural(char c);
  bool start_value(char c, const Json* schema);
  bool feed_scalar(char c, bool& reprocess);
  bool utf8_step(unsigned char b);
  void value_done();
  bool close_allowed(const Frame& f) const;
  bool key_char(char c);
  bool key_done();
  const Json* resolve(const Json* schema) const;
  const Json* pick_alternative(const Json* schema, char first) const;
  bool restricted_keys(const Json* schema) const;

  const Json* root_;
  std::vector<Frame> stack_;
  Scalar scalar_ = Scalar::None;
  const Json* scalar_schema_ = nullptr;
  // String state (values and keys).
  bool escape_ = false;
  int unicode_left_ = 0;
  int64_t string_length_ = 0;               // characters so far (values only)
  int utf8_left_ = 0;                       // continuation bytes still due (values only)
  int64_t string_min_ = 0, string_max_ = INT64_MAX;
  // Number state.
  uint8_t number_state_ = 0;
  bool integer_only_ = false;
  // Literal (true/false/null) and enum text.
  const char* literal_ = nullptr;
  uint8_t literal_pos_ = 0;
  std::string text_;   // enum: the value's text so far; key: the key's text so far
  int whitespace_run_ = 0;
};

}  // namespace facet::server
