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

// The bundled default model (models/default/facet-brown-8m-f16.gguf, trained by
// scripts/train-default-model.sh): $FACET_DEFAULT_MODEL when set, else the file beside the
// facet binary's source tree (build/facet -> ../models/default/...). Empty when absent.
std::string bundled_default_model();

}  // namespace facet::cli
