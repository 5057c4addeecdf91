// Helpers shared by the `facet` subcommands.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace facet::cli {

// "2,17,9" -> {2, 17, 9}; throws Error on anything else.
std::vector<int32_t> parse_token_list(const std::string& text);

// Writes floats as JSON numbers with enough digits to round-trip an f32.
void append_json_float(std::string& out, float value);

}  // namespace facet::cli
