#include "util/base64.h"

#include <array>
#include <cstdint>

namespace facet {
namespace {

constexpr int8_t kSkip = -2, kInvalid = -1;

// Value of each byte: 0-63 for both alphabets ('+' and '-' are 62, '/' and '_' are 63),
// kSkip for whitespace, kInvalid otherwise ('=' is handled before the lookup).
constexpr std::array<int8_t, 256> make_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  for (int i = 0; i < 26; ++i) {
    t['A' + i] = static_cast<int8_t>(i);
    t['a' + i] = static_cast<int8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<int8_t>(52 + i);
  t['+'] = t['-'] = 62;
  t['/'] = t['_'] = 63;
  for (char c : {' ', '\t', '\r', '\n'}) t[static_cast<unsigned char>(c)] = kSkip;
  return t;
}
constexpr std::array<int8_t, 256> kTable = make_table();

}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3 + 3);
  uint32_t bits = 0;  // pending bits, most significant first
  int n_bits = 0;
  size_t digits = 0, padding = 0;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '=') {
      ++padding;
      continue;
    }
    const int8_t v = kTable[c];
    if (v == kSkip) continue;
    if (v == kInvalid || padding > 0) return std::nullopt;  // a stray byte, or data after '='
    bits = (bits << 6) | static_cast<uint32_t>(v);
    n_bits += 6;
    ++digits;
    if (n_bits >= 8) {
      n_bits -= 8;
      out.push_back(static_cast<char>((bits >> n_bits) & 0xff));
    }
  }
  if (padding > 2 || digits % 4 == 1) return std::nullopt;
  // Padding, when given, must complete the last group of four.
  if (padding > 0 && (digits + padding) % 4 != 0) return std::nullopt;
  return out;
}

}  // namespace facet
