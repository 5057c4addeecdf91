#include "formats/strict_json.h"

#include <set>
#include <vector>

#include "util/error.h"

namespace facet {

nlohmann::json parse_json_strict(std::string_view text, const std::string& what) {
  using nlohmann::json;
  // One key set per open object; a key event always belongs to the innermost object.
  std::vector<std::set<std::string>> open_objects;
  auto check_keys = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (!open_objects.empty() && !open_objects.back().insert(key).second)
          fail(what, ": duplicate key \"", key, "\" in JSON");
        break;
      }
      default:
        break;
    }
    return true;
  };
  // nlohmann-json stops at a NUL byte as if the input ended there, which would let bytes
  // after it hide in the header; valid JSON never holds a raw NUL, so refuse it outright.
  auto nul = text.find('\0');
  if (nul != std::string_view::npos) fail(what, ": invalid JSON: NUL byte at offset ", nul);
  try {
    return json::parse(text.begin(), text.end(), check_keys, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const json::exception& e) {
    fail(what, ": invalid JSON: ", e.what());
  }
}

}  // namespace facet
