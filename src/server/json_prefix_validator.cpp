#include "server/json_prefix_validator.h"

#include <cstring>

namespace facet::server {
namespace {

constexpr int kMaxWhitespaceRun = 24;

enum TypeBit : unsigned {
  kObject = 1, kArray = 2, kString = 4, kNumber = 8, kInteger = 16, kBoolean = 32, kNull = 64, kAny = 127
};

unsigned type_bit(const std::string& name) {
  if (name == "object") return kObject;
  if (name == "array") return kArray;
  if (name == "string") return kString;
  if (name == "number") return kNumber | kInteger;
  if (name == "integer") return kInteger;
  if (name == "boolean") return kBoolean;
  if (name == "null") return kNull;
  return 0;
}

unsigned types_of(const Json* s) {
  if (!s || !s->is_object()) return kAny;
  auto t = s->find("type");
  if (t != s->end()) {
    unsigned bits = 0;
    if (t->is_string()) bits = type_bit(t->get<std::string>());
    else if (t->is_array())
      for (const Json& n : *t)
        if (n.is_string()) bits |= type_bit(n.get<std::string>());
    return bits ? bits : kAny;
  }
  if (s->contains("properties")) return kObject;
  if (s->contains("items")) return kArray;
  return kAny;
}

// The bit a value starting with `c` has (number and integer share their first chars).
unsigned bit_of_first(char c) {
  switch (c) {
    case '{': return kObject;
    case '[': return kArray;
    case '"': return kString;
    case 't': case 'f': return kBoolean;
    case 'n': return kNull;
    default: return (c == '-' || (c >= '0' && c <= '9')) ? (kNumber | kInteger) : 0;
  }
}

const Json* enum_values(const Json* s, Json& single) {
  if (!s || !s->is_object()) return nullptr;
  auto e = s->find("enum");
  if (e != s->end() && e->is_array()) return &*e;
  auto c = s->find("const");
  if (c != s->end()) {
    single = Json::array({*c});
    return &single;
  }
  return nullptr;
}

std::string compact(const Json& v) { return v.dump(-1, ' ', false, Json::error_handler_t::replace); }

int64_t int_field(const Json* s, const char* key, int64_t fallback) {
  if (!s || !s->is_object()) return fallback;
  auto it = s->find(key);
  return it != s->end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

bool is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Number states: 0 start, 1 after '-', 2 leading zero, 3 integer digits, 4 after '.',
// 5 fraction digits, 6 after 'e', 7 after exponent sign, 8 exponent digits.
bool number_accepting(uint8_t s) { return s == 2 || s == 3 || s == 5 || s == 8; }
int number_step(uint8_t s, char c, bool integer_only) {
  const bool d = is_digit(c);
  switch (s) {
    case 0: return c == '-' ? 1 : c == '0' ? 2 : d ? 3 : -1;
    case 1: return c == '0' ? 2 : d ? 3 : -1;
    case 2: case 3:
      if (s == 3 && d) return 3;
      if (integer_only) return -1;
      return c == '.' ? 4 : (c == 'e' || c == 'E') ? 6 : -1;
    case 4: return d ? 5 : -1;
    case 5: return d ? 5 : (c == 'e' || c == 'E') ? 6 : -1;
    case 6: return (c == '+' || c == '-') ? 7 : d ? 8 : -1;
    case 7: case 8: return d ? 8 : -1;
  }
  return -1;
}

}  // namespace

JsonPrefixValidator::JsonPrefixValidator(const Json* schema, const Json* root) : root_(root) {
  Frame f;
  f.schema = schema;
  f.phase = Phase::RootValue;
  stack_.push_back(f);
}

const Json* JsonPrefixValidator::resolve(const Json* s) const {
  for (int hops = 0; hops < 16 && s && s->is_object(); ++hops) {
    auto ref = s->find("$ref");
    if (ref == s->end() || !ref->is_string() || !root_) return s;
    const std::string& r = ref->get_ref<const std::string&>();
    if (r == "#") { s = root_; continue; }
    if (r.rfind("#/", 0) != 0) return nullptr;
    try {
      const Json& target = root_->at(Json::json_pointer(r.substr(1)));
      s = &target;
    } catch (const std::exception&) {
      return nullptr;  // an unresolvable reference constrains nothing
    }
  }
  return s;
}

bool JsonPrefixValidator::restricted_keys(const Json* s) const {
  if (!s || !s->is_object()) return false;
  auto props = s->find("properties");
  if (props == s->end() || !props->is_object()) return false;
  auto extra = s->find("additionalProperties");
  return extra == s->end() || (extra->is_boolean() && !extra->get<bool>());
}

const Json* JsonPrefixValidator::pick_alternative(const Json* s, char first) const {
  s = resolve(s);
  for (int depth = 0; depth < 8 && s && s->is_object(); ++depth) {
    auto alts = s->find("anyOf");
    if (alts == s->end()) alts = s->find("oneOf");
    if (alts == s->end() || !alts->is_array()) return s;
    const Json* chosen = nullptr;
    for (const Json& alt : *alts) {
      const Json* a = resolve(&alt);
      Json single;
      if (const Json* values = enum_values(a, single)) {
        for (const Json& v : *values)
          if (compact(v)[0] == first) { chosen = a; break; }
      } else if (a && (a->contains("anyOf") || a->contains("oneOf"))) {
        if (pick_alternative(a, first)) chosen = a;
      } else if (types_of(a) & bit_of_first(first)) {
        chosen = a;
      }
      if (chosen) break;
    }
    if (!chosen) return nullptr;
    s = chosen;
  }
  return s;
}

bool JsonPrefixValidator::start_value(char c, const Json* schema) {
  const bool constrained = schema != nullptr;
  const Json* s = pick_alternative(schema, c);
  if (constrained && !s) return false;
  Json single;
  if (const Json* values = enum_values(s, single)) {
    bool any = false;
    for (const Json& v : *values) any = any || compact(v)[0] == c;
    if (!any) return false;
    scalar_ = Scalar::Enum;
    scalar_schema_ = s;
    text_.assign(1, c);
    return true;
  }
  const unsigned allowed = types_of(s), bit = bit_of_first(c);
  if (!(allowed & bit)) return false;
  Frame f;
  f.schema = s;
  switch (c) {
    case '{': f.phase = Phase::ObjStart; stack_.push_back(f); return true;
    case '[':
      f.phase = Phase::ArrStart;
      stack_.push_back(f);
      return true;
    case '"':
      scalar_ = Scalar::String;
      escape_ = false;
      unicode_left_ = 0;
      string_length_ = 0;
      utf8_left_ = 0;
      string_min_ = int_field(s, "minLength", 0);
      string_max_ = int_field(s, "maxLength", INT64_MAX);
      return true;
    case 't': case 'f': case 'n':
      scalar_ = Scalar::Literal;
      literal_ = c == 't' ? "true" : c == 'f' ? "false" : "null";
      literal_pos_ = 1;
      return true;
    default:
      scalar_ = Scalar::Number;
      integer_only_ = !(allowed & kNumber);
      number_state_ = static_cast<uint8_t>(number_step(0, c, integer_only_));
      return true;
  }
}

void JsonPrefixValidator::value_done() {
  scalar_ = Scalar::None;
  Frame& f = stack_.back();
  switch (f.phase) {
    case Phase::RootValue: f.phase = Phase::RootDone; break;
    case Phase::ObjValue:
      if (f.key_index >= 0 && f.key_index < 64) f.seen |= uint64_t{1} << f.key_index;
      f.phase = Phase::ObjAfterValue;
      break;
    case Phase::ArrStart: case Phase::ArrValue:
      ++f.count;
      f.phase = Phase::ArrAfterValue;
      break;
    default: break;
  }
}

bool JsonPrefixValidator::close_allowed(const Frame& f) const {
  if (f.phase == Phase::ArrStart || f.phase == Phase::ArrAfterValue)
    return f.count >= int_field(f.schema, "minItems", 0);
  const Json* s = f.schema;
  if (!s || !s->is_object()) return true;
  auto req = s->find("required");
  auto props = s->find("properties");
  if (req == s->end() || !req->is_array() || props == s->end() || !props->is_object()) return true;
  for (const Json& name : *req) {
    if (!name.is_string()) continue;
    int index = 0;
    for (auto it = props->begin(); it != props->end(); ++it, ++index)
      if (it.key() == name.get_ref<const std::string&>()) {
        if (index < 64 && !(f.seen & (uint64_t{1} << index))) return false;
        break;
      }
  }
  return true;
}

bool JsonPrefixValidator::key_char(char c) {
  Frame& f = stack_.back();
  if (restricted_keys(f.schema)) {
    if (c == '"') return key_done();
    if (c == '\\' || static_cast<unsigned char>(c) < 0x20) return false;
    text_ += c;
    int index = 0;
    for (auto it = f.schema->at("properties").begin(); it != f.schema->at("properties").end(); ++it, ++index) {
      if (index < 64 && (f.seen & (uint64_t{1} << index))) continue;
      if (it.key().compare(0, text_.size(), text_) == 0) return true;
    }
    return false;
  }
  if (static_cast<unsigned char>(c) < 0x20) return false;
  if (unicode_left_ > 0) {
    if (!is_hex(c)) return false;
    --unicode_left_;
  } else if (escape_) {
    escape_ = false;
    if (c == 'u') unicode_left_ = 4;
    else if (!std::strchr("\"\\/bfnrt", c)) return false;
  } else if (c == '\\') {
    escape_ = true;
  } else if (c == '"') {
    return key_done();
  }
  text_ += c;
  return true;
}

bool JsonPrefixValidator::key_done() {
  Frame& f = stack_.back();
  f.key_index = -1;
  f.value_schema = nullptr;
  const Json* s = f.schema;
  if (s && s->is_object()) {
    auto props = s->find("properties");
    if (props != s->end() && props->is_object()) {
      int index = 0;
      for (auto it = props->begin(); it != props->end(); ++it, ++index)
        if (it.key() == text_) {
          if (index < 64 && (f.seen & (uint64_t{1} << index))) return false;  // no repeats
          f.key_index = index;
          f.value_schema = &it.value();
        }
    }
    if (f.key_index < 0) {
      if (restricted_keys(s)) return false;
      auto extra = s->find("additionalProperties");
      if (extra != s->end() && extra->is_object()) f.value_schema = &*extra;
    }
  }
  f.phase = Phase::ObjColon;
  return true;
}

bool JsonPrefixValidator::utf8_step(unsigned char b) {
  if (b >= 0x80 && b < 0xC0) return utf8_left_-- > 0;  // a continuation byte must be due
  if (utf8_left_ > 0) return false;                      // a sequence cut short
  if (b < 0x80) return true;
  if (b < 0xC2 || b > 0xF4) return false;                // overlong leads, beyond U+10FFFF
  utf8_left_ = b < 0xE0 ? 1 : b < 0xF0 ? 2 : 3;
  return true;
}

bool JsonPrefixValidator::feed_scalar(char c, bool& reprocess) {
  reprocess = false;
  switch (scalar_) {
    case Scalar::String:
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (!utf8_step(static_cast<unsigned char>(c))) return false;
      // A character starts here unless c continues an escape or a UTF-8 sequence.
      if (unicode_left_ == 0 && !escape_ && (static_cast<unsigned char>(c) & 0xC0) != 0x80) {
        if (c == '"') {
          if (string_length_ < string_min_) return false;
        } else if (string_length_++ >= string_max_) {
          return false;
        }
      }
      if (unicode_left_ > 0) {
        if (!is_hex(c)) return false;
        --unicode_left_;
      } else if (escape_) {
        escape_ = false;
        if (c == 'u') unicode_left_ = 4;
        else if (!std::strchr("\"\\/bfnrt", c)) return false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        value_done();
      }
      return true;
    case Scalar::Number: {
      const int next = number_step(number_state_, c, integer_only_);
      if (next >= 0) {
        number_state_ = static_cast<uint8_t>(next);
        return true;
      }
      if (!number_accepting(number_state_)) return false;
      value_done();
      reprocess = true;
      return true;
    }
    case Scalar::Literal:
      if (literal_[literal_pos_] != c) return false;
      if (literal_[++literal_pos_] == '\0') value_done();
      return true;
    case Scalar::Enum: {
      Json single;
      const Json* values = enum_values(scalar_schema_, single);
      const std::string extended = text_ + c;
      bool exact = false;
      for (const Json& v : *values) {
        const std::string t = compact(v);
        if (t.compare(0, extended.size(), extended) == 0) {
          text_ = extended;
          return true;
        }
        exact = exact || t == text_;
      }
      if (!exact) return false;
      value_done();
      reprocess = true;
      return true;
    }
    case Scalar::None: break;
  }
  return false;
}

bool JsonPrefixValidator::feed_structural(char c) {
  Frame& f = stack_.back();
  if (f.phase == Phase::ObjKey) return key_char(c);
  if (is_ws(c)) return ++whitespace_run_ <= kMaxWhitespaceRun;
  whitespace_run_ = 0;
  switch (f.phase) {
    case Phase::RootValue: return start_value(c, f.schema);
    case Phase::RootDone: return false;
    case Phase::ObjStart: case Phase::ObjNextKey:
      if (c == '"') {
        f.phase = Phase::ObjKey;
        text_.clear();
        escape_ = false;
        unicode_left_ = 0;
        return true;
      }
      if (c == '}' && f.phase == Phase::ObjStart && close_allowed(f)) {
        stack_.pop_back();
        value_done();
        return true;
      }
      return false;
    case Phase::ObjColon:
      if (c != ':') return false;
      f.phase = Phase::ObjValue;
      return true;
    case Phase::ObjValue: return start_value(c, f.value_schema);
    case Phase::ObjAfterValue:
      if (c == ',') {
        if (restricted_keys(f.schema)) {  // only if a property is left to write
          const size_t n = f.schema->at("properties").size();
          bool left = false;
          for (size_t i = 0; i < n && !left; ++i) left = i >= 64 || !(f.seen & (uint64_t{1} << i));
          if (!left) return false;
        }
        f.phase = Phase::ObjNextKey;
        return true;
      }
      if (c == '}' && close_allowed(f)) {
        stack_.pop_back();
        value_done();
        return true;
      }
      return false;
    case Phase::ArrStart: case Phase::ArrValue:
      if (c == ']' && f.phase == Phase::ArrStart && close_allowed(f)) {
        stack_.pop_back();
        value_done();
        return true;
      }
      if (f.count >= int_field(f.schema, "maxItems", INT64_MAX)) return false;
      return start_value(c, f.schema && f.schema->is_object() && f.schema->contains("items")
                                ? &f.schema->at("items") : nullptr);
    case Phase::ArrAfterValue:
      if (c == ',') {
        if (f.count >= int_field(f.schema, "maxItems", INT64_MAX)) return false;
        f.phase = Phase::ArrValue;
        return true;
      }
      if (c == ']' && close_allowed(f)) {
        stack_.pop_back();
        value_done();
        return true;
      }
      return false;
    case Phase::ObjKey: break;
  }
  return false;
}

bool JsonPrefixValidator::feed(char c) {
  if (scalar_ != Scalar::None) {
    bool reprocess = false;
    if (!feed_scalar(c, reprocess)) return false;
    if (!reprocess) return true;
  }
  return feed_structural(c);
}

bool JsonPrefixValidator::feed(std::string_view text) {
  for (char c : text)
    if (!feed(c)) return false;
  return true;
}

bool JsonPrefixValidator::complete() const {
  if (stack_.size() != 1) return false;
  const Frame& f = stack_.back();
  if (f.phase == Phase::RootDone) return true;
  if (f.phase != Phase::RootValue) return false;
  if (scalar_ == Scalar::Number) return number_accepting(number_state_);
  if (scalar_ == Scalar::Enum) {
    Json single;
    for (const Json& v : *enum_values(scalar_schema_, single))
      if (compact(v) == text_) return true;
  }
  return false;
}

bool JsonPrefixValidator::in_free_string() const {
  return scalar_ == Scalar::String && !escape_ && unicode_left_ == 0 && string_max_ == INT64_MAX;
}

}  // namespace facet::server
