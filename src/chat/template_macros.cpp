#include "chat/template_macros.h"

#include "chat/jinja_values.h"
#include "util/error.h"

namespace facet::chat::macros {

using jinja::member;
using jinja::print;
using jinja::truthy;
using jinja::upper;

namespace {

std::string gemma_string(std::string_view text) {
  std::string out = "<|\"|>";
  out += text;
  out += "<|\"|>";
  return out;
}

// The template's `add_comma` flag: the first field is written bare, later ones after ",".
struct CommaSeparator {
  bool any = false;
  void next(std::string& out) {
    if (any) out += ',';
    any = true;
  }
};

// `required:[<|"|>a<|"|>,<|"|>b<|"|>]` (the caller decides whether it is written at all).
std::string required_list(const Json& required) {
  require(required.is_array(), "tool schema: \"required\" must be a list of property names, got ",
          required.dump());
  std::string out = "required:[";
  for (size_t i = 0; i < required.size(); ++i) {
    if (i) out += ',';
    out += gemma_string(print(required[i]));
  }
  return out + "]";
}

// JSON Schema keys the property loop skips: a property that happens to be named like one
// of them is not declared (a quirk of the template, kept for byte equality).
bool is_standard_schema_key(std::string_view key) {
  return key == "description" || key == "type" || key == "properties" || key == "required" ||
         key == "nullable";
}

std::string format_items(const Json& items);

std::string format_parameters(const Json& properties) {
  std::string out;
  bool found_first = false;
  for (const auto& [key, value_ptr] : jinja::dictsort(properties)) {
    if (is_standard_schema_key(key)) continue;
    if (found_first) out += ',';
    found_first = true;
    const Json& value = *value_ptr;
    out += key + ":{";
    CommaSeparator fields;
    if (const Json* description = member(value, "description"); truthy(description)) {
      fields.next(out);
      out += "description:" + gemma_string(print(description));
    }
    std::string type = upper(print(member(value, "type")));
    if (type == "STRING") {
      if (const Json* values = member(value, "enum"); truthy(values)) {
        fields.next(out);
        out += "enum:" + format_argument(*values);
      }
    } else if (type == "ARRAY") {
      const Json* items = member(value, "items");
      if (items && items->is_object() && !items->empty()) {
        fields.next(out);
        out += "items:{" + format_items(*items) + "}";
      }
    }
    if (truthy(member(value, "nullable"))) {
      fields.next(out);
      out += "nullable:true";
    }
    if (type == "OBJECT") {
      const Json* nested = member(value, "properties");
      // Without a "properties" mapping the template lists the schema's own keys instead.
      const Json& listed = (nested && nested->is_object()) ? *nested : value;
      if (listed.is_object()) {
        fields.next(out);
        out += "properties:{" + format_parameters(listed) + "}";
      }
      if (const Json* required = member(value, "required"); truthy(required)) {
        fields.next(out);
        out += required_list(*required);
      }
    }
    fields.next(out);
    out += "type:" + gemma_string(type) + "}";
  }
  return out;
}

// The body of `items:{...}` for an array property.
std::string format_items(const Json& items) {
  std::string out;
  bool found_first = false;
  for (const auto& [key, value_ptr] : jinja::dictsort(items)) {
    const Json& value = *value_ptr;
    if (value.is_null()) continue;
    if (found_first) out += ',';
    found_first = true;
    if (key == "properties") {
      out += "properties:{" + (value.is_object() ? format_parameters(value) : std::string()) + "}";
    } else if (key == "required") {
      out += required_list(value);
    } else if (key == "type") {
      if (value.is_array()) {
        Json types = Json::array();
        for (const Json& type : value) types.push_back(upper(print(type)));
        out += "type:" + format_argument(types);
      } else {
        out += "type:" + format_argument(Json(upper(print(value))));
      }
    } else {
      out += key + ":" + format_argument(value);
    }
  }
  return out;
}

}  // namespace

std::string format_argument(const Json& argument, bool escape_keys) {
  if (argument.is_string()) return gemma_string(argument.get_ref<const std::string&>());
  if (argument.is_boolean()) return argument.get<bool>() ? "true" : "false";
  if (argument.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [key, value] : jinja::dictsort(argument)) {
      if (!first) out += ',';
      first = false;
      out += (escape_keys ? gemma_string(key) : key) + ":" + format_argument(*value, escape_keys);
    }
    return out + "}";
  }
  if (argument.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < argument.size(); ++i) {
      if (i) out += ',';
      out += format_argument(argument[i], escape_keys);
    }
    return out + "]";
  }
  return print(argument);
}

std::string format_function_declaration(const Json& function) {
  std::string out = "declaration:" + print(member(function, "name")) + "{description:" +
                    gemma_string(print(member(function, "description")));
  if (const Json* params = member(function, "parameters"); truthy(params)) {
    out += ",parameters:{";
    if (const Json* properties = member(params, "properties"); truthy(properties))
      out += "properties:{" + format_parameters(*properties) + "},";
    if (const Json* required = member(params, "required"); truthy(required))
      out += required_list(*required) + ",";
    // Without a type the template leaves the parameters brace open; so do we.
    if (const Json* type = member(params, "type"); truthy(type)) out += "type:" + gemma_string(upper(print(type))) + "}";
  }
  if (function.is_object() && function.contains("response")) {
    const Json& response = function["response"];
    out += ",response:{";
    if (const Json* description = member(response, "description"); truthy(description))
      out += "description:" + gemma_string(print(description)) + ",";
    std::string type = upper(print(member(response, "type")));
    if (type == "OBJECT") out += "type:" + gemma_string(type) + "}";
  }
  return out + "}";
}

std::string format_tool_response_block(std::string_view tool_name, const Json& response) {
  std::string out = "<|tool_response>response:";
  out += tool_name;
  if (response.is_object()) {
    out += "{";
    bool first = true;
    for (const auto& [key, value] : jinja::dictsort(response)) {
      if (!first) out += ',';
      first = false;
      out += key + ":" + format_argument(*value, /*escape_keys=*/false);
    }
    out += "}";
  } else {
    out += "{value:" + format_argument(response, /*escape_keys=*/false) + "}";
  }
  return out + "<tool_response|>";
}

std::string strip_thinking(std::string_view text) {
  static constexpr std::string_view kOpen = "<|channel>", kClose = "<channel|>";
  std::string kept;
  size_t start = 0;
  while (true) {
    size_t close = text.find(kClose, start);
    std::string_view part = text.substr(start, close == std::string_view::npos ? std::string_view::npos : close - start);
    kept += part.substr(0, part.find(kOpen));  // npos keeps the whole part
    if (close == std::string_view::npos) break;
    start = close + kClose.size();
  }
  return jinja::trim(kept);
}

}  // namespace facet::chat::macros
