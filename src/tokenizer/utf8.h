// UTF-8 helpers for the tokenizer: walking code points of possibly-invalid input and
// turning raw bytes (from byte-fallback tokens) back into valid text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace facet::utf8 {

// Length of the well-formed UTF-8 sequence starting at text[pos], or 0 when the bytes
// there are not one (bad lead byte, bad continuation, overlong, surrogate, > U+10FFFF,
// or cut short by the end of the text).
size_t valid_sequence_length(std::string_view text, size_t pos);

// Decodes the well-formed sequence of `length` bytes at text[pos] (see above).
uint32_t decode_code_point(std::string_view text, size_t pos, size_t length);

// Appends the UTF-8 encoding of `code_point` (assumed a valid scalar value).
void append_code_point(std::string& out, uint32_t code_point);

// Appends `bytes` to `out` as valid UTF-8: each maximal ill-formed subpart becomes one
// U+FFFD (the Unicode "substitution of maximal subparts" practice). When `final` is
// false, an incomplete but so-far-valid sequence at the end is left unconsumed so a
// streaming caller can complete it with later bytes. Returns the number of bytes consumed.
size_t append_lossy(std::string& out, std::string_view bytes, bool final);

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

}  // namespace facet::utf8
