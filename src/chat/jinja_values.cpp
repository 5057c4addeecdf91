#include "chat/jinja_values.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace facet::chat::jinja {

const Json* member(const Json& value, std::string_view key) {
  if (!value.is_object()) return nullptr;
  auto it = value.find(std::string(key));
  return it == value.end() ? nullptr : &*it;
}

const Json* member(const Json* value, std::string_view key) {
  return value ? member(*value, key) : nullptr;
}

bool truthy(const Json* value) {
  if (!value) return false;
  switch (value->type()) {
    case Json::value_t::null: return false;
    case Json::value_t::boolean: return value->get<bool>();
    case Json::value_t::number_integer: return value->get<int64_t>() != 0;
    case Json::value_t::number_unsigned: return value->get<uint64_t>() != 0;
    case Json::value_t::number_float: return value->get<double>() != 0.0;
    case Json::value_t::string: return !value->get_ref<const std::string&>().empty();
    case Json::value_t::array:
    case Json::value_t::object: return !value->empty();
    default: return false;
  }
}

std::string float_repr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
  // Shortest round-trip digits, then laid out the way Python's repr() does.
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string sci(buf, result.ptr);
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  size_t e_pos = sci.find('e');
  std::string digits = sci.substr(0, e_pos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  int exponent = std::atoi(sci.c_str() + e_pos + 1);

  if (exponent < -4 || exponent >= 16) {
    std::string out = sign + digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    std::string exp_digits = std::to_string(std::abs(exponent));
    if (exp_digits.size() < 2) exp_digits = "0" + exp_digits;
    return out + "e" + (exponent < 0 ? "-" : "+") + exp_digits;
  }
  if (exponent < 0) return sign + "0." + std::string(-exponent - 1, '0') + digits;
  size_t int_len = static_cast<size_t>(exponent) + 1;
  if (digits.size() <= int_len) return sign + digits + std::string(int_len - digits.size(), '0') + ".0";
  return sign + digits.substr(0, int_len) + "." + digits.substr(int_len);
}

namespace {

std::string number_text(const Json& value) {
  if (value.is_number_integer() && !value.is_number_unsigned()) return std::to_string(value.get<int64_t>());
  if (value.is_number_unsigned()) return std::to_string(value.get<uint64_t>());
  return float_repr(value.get<double>());
}

std::string string_repr(const std::string& text) {
  // Python prefers single quotes and switches to double ones when that avoids escaping.
  bool has_single = text.find('\'') != std::string::npos;
  bool has_double = text.find('"') != std::string::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  static const char* hex = "0123456789abcdef";
  for (unsigned char c : text) {
    if (c == '\\' || c == static_cast<unsigned char>(quote)) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + quote;
}

}  // namespace

std::string repr(const Json& value) {
  switch (value.type()) {
    case Json::value_t::string: return string_repr(value.get_ref<const std::string&>());
    case Json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < value.size(); ++i) {
        if (i) out += ", ";
        out += repr(value[i]);
      }
      return out + "]";
    }
    case Json::value_t::object: {
      std::string out = "{";
      bool first = true;
      for (const auto& [key, item] : value.items()) {
        out += (first ? "" : ", ") + string_repr(key) + ": " + repr(item);
        first = false;
      }
      return out + "}";
    }
    default: return print(value);
  }
}

std::string print(const Json* value) {
  if (!value) return "";
  switch (value->type()) {
    case Json::value_t::null: return "None";
    case Json::value_t::boolean: return value->get<bool>() ? "True" : "False";
    case Json::value_t::string: return value->get<std::string>();
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return number_text(*value);
    case Json::value_t::array:
    case Json::value_t::object: return repr(*value);
    default: return "";
  }
}

std::string upper(std::string text) {
  for (char& c : text)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return text;
}

namespace {

// The code points Python's str.isspace() accepts.
bool is_python_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

// Decodes the UTF-8 sequence of `len` bytes at `p`; malformed bytes count as non-space.
uint32_t decode(const unsigned char* p, size_t len) {
  if (len == 1) return p[0] < 0x80 ? p[0] : 0xfffd;
  uint32_t cp = p[0] & (0x7f >> len);
  for (size_t i = 1; i < len; ++i) cp = (cp << 6) | (p[i] & 0x3f);
  return cp;
}

size_t sequence_length(unsigned char lead) {
  if (lead >= 0xf0 && lead < 0xf8) return 4;
  if (lead >= 0xe0) return lead < 0xf0 ? 3 : 1;
  if (lead >= 0xc0) return 2;
  return 1;
}

}  // namespace

std::string trim(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  size_t begin = 0, end = text.size();
  while (begin < end) {
    size_t len = std::min(sequence_length(bytes[begin]), end - begin);
    if (!is_python_space(decode(bytes + begin, len))) break;
    begin += len;
  }
  while (end > begin) {
    size_t start = end - 1;
    while (start > begin && (bytes[start] & 0xc0) == 0x80 && end - start < 4) --start;
    if (sequence_length(bytes[start]) != end - start) start = end - 1;
    if (!is_python_space(decode(bytes + start, end - start))) break;
    end = start;
  }
  return std::string(text.substr(begin, end - begin));
}

std::vector<std::pair<std::string, const Json*>> dictsort(const Json& object) {
  std::vector<std::pair<std::string, const Json*>> members;
  if (!object.is_object()) return members;
  for (const auto& [key, value] : object.items()) members.emplace_back(key, &value);
  auto lower = [](std::string text) {
    for (char& c : text)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return text;
  };
  std::stable_sort(members.begin(), members.end(),
                   [&](const auto& a, const auto& b) { return lower(a.first) < lower(b.first); });
  return members;
}

}  // namespace facet::chat::jinja
