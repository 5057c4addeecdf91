// How the official chat template (Jinja2 on Python values) sees JSON values: truthiness,
// what `{{ value }}` prints, `| trim`, `| upper`, `| dictsort`. The renderer uses these so
// that odd inputs (null descriptions, numeric arguments, type lists) render exactly as
// Hugging Face's apply_chat_template would.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/chat_types.h"

namespace facet::chat::jinja {

// `value[key]` in Jinja: the member when `value` is an object that has it, else undefined
// (nullptr). Undefined prints as "" and is false.
const Json* member(const Json& value, std::string_view key);
const Json* member(const Json* value, std::string_view key);

// Python truthiness; undefined (nullptr) is false.
bool truthy(const Json* value);
inline bool truthy(const Json& value) { return truthy(&value); }

// What `{{ value }}` prints: strings as they are, None/True/False, Python number and
// container reprs. Undefined prints as "".
std::string print(const Json* value);
inline std::string print(const Json& value) { return print(&value); }

// Python repr() of a value (strings quoted): used inside printed lists and dicts.
std::string repr(const Json& value);

// Python float repr: shortest round-trip digits, scientific below 1e-4 and from 1e16.
std::string float_repr(double value);

// `| upper` (ASCII letters; Gemma schema types are ASCII).
std::string upper(std::string text);

// `| trim`: Python str.strip(), which removes Unicode whitespace at both ends.
std::string trim(std::string_view text);

// `| dictsort`: an object's members ordered by key, ignoring ASCII case; equal keys keep
// their original order (Python's sort is stable).
std::vector<std::pair<std::string, const Json*>> dictsort(const Json& object);

}  // namespace facet::chat::jinja
