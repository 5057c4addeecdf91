#include "tokenizer/utf8.h"

namespace facet::utf8 {
namespace {

// Number of bytes a sequence with this lead byte has, or 0 if it cannot lead one.
size_t sequence_length_for_lead(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Allowed range of the second byte; tighter than 80..BF for a few lead bytes so that
// overlong forms, surrogates and code points above U+10FFFF are rejected.
bool second_byte_ok(uint8_t lead, uint8_t second) {
  switch (lead) {
    case 0xE0: return second >= 0xA0 && second <= 0xBF;
    case 0xED: return second >= 0x80 && second <= 0x9F;
    case 0xF0: return second >= 0x90 && second <= 0xBF;
    case 0xF4: return second >= 0x80 && second <= 0x8F;
    default: return second >= 0x80 && second <= 0xBF;
  }
}

bool is_continuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

// How many bytes starting at pos form a valid prefix of a sequence (at most `needed`).
size_t valid_prefix_length(std::string_view text, size_t pos, size_t needed) {
  auto lead = static_cast<uint8_t>(text[pos]);
  size_t count = 1;
  while (count < needed && pos + count < text.size()) {
    auto byte = static_cast<uint8_t>(text[pos + count]);
    bool ok = count == 1 ? second_byte_ok(lead, byte) : is_continuation(byte);
    if (!ok) break;
    ++count;
  }
  return count;
}

}  // namespace

size_t valid_sequence_length(std::string_view text, size_t pos) {
  size_t needed = sequence_length_for_lead(static_cast<uint8_t>(text[pos]));
  if (needed <= 1) return needed;
  return valid_prefix_length(text, pos, needed) == needed ? needed : 0;
}

uint32_t decode_code_point(std::string_view text, size_t pos, size_t length) {
  auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<uint8_t>(text[pos + i])); };
  switch (length) {
    case 1: return byte(0);
    case 2: return ((byte(0) & 0x1F) << 6) | (byte(1) & 0x3F);
    case 3: return ((byte(0) & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F);
    default:
      return ((byte(0) & 0x07) << 18) | ((byte(1) & 0x3F) << 12) | ((byte(2) & 0x3F) << 6) |
             (byte(3) & 0x3F);
  }
}

void append_code_point(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t append_lossy(std::string& out, std::string_view bytes, bool final) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t needed = sequence_length_for_lead(static_cast<uint8_t>(bytes[pos]));
    if (needed == 0) {
      out += kReplacementCharacter;
      ++pos;
      continue;
    }
    size_t valid = needed == 1 ? 1 : valid_prefix_length(bytes, pos, needed);
    if (valid == needed) {
      out.append(bytes.substr(pos, needed));
      pos += needed;
    } else if (pos + valid == bytes.size() && !final) {
      break;  // incomplete so far, may still be completed by later bytes
    } else {
      out += kReplacementCharacter;  // one U+FFFD for the whole maximal ill-formed subpart
      pos += valid;
    }
  }
  return pos;
}

}  // namespace facet::utf8
