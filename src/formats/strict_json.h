// JSON parsing for untrusted files: nlohmann-json errors become facet::Error naming the
// file, and duplicate object keys are rejected (a parser silently keeping one of two
// entries for the same tensor name would let two readers see different files).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace facet {

// Parses `text`; throws Error "<what>: invalid JSON: ..." or "<what>: duplicate key ...".
nlohmann::json parse_json_strict(std::string_view text, const std::string& what);

}  // namespace facet
