#include "server/tool_choice.h"

namespace facet::server {
namespace {

// The offered functions, in the two shapes chat requests use ({"type":"function",
// "function":{...}} or the bare function object). Malformed entries are skipped here:
// rendering the prompt reports them with their index.
std::vector<ToolFunction> offered_functions(const Json* tools) {
  std::vector<ToolFunction> out;
  if (!tools || !tools->is_array()) return out;
  for (const Json& t : *tools) {
    if (!t.is_object()) continue;
    const Json* f = get_field(t, "function");
    if (!f) f = &t;
    if (!f->is_object()) continue;
    std::optional<std::string> name = get_string(*f, "name");
    if (!name || name->empty()) continue;
    const Json* parameters = get_field(*f, "parameters");
    // No parameters: the call takes an empty argument object, nothing else.
    Json schema = parameters && parameters->is_object()
                      ? *parameters
                      : Json{{"type", "object"}, {"properties", Json::object()}, {"additionalProperties", false}};
    out.push_back(ToolFunction{*name, std::move(schema)});
  }
  return out;
}

}  // namespace

std::optional<std::vector<ToolFunction>> apply_tool_choice(Json& body) {
  const Json* choice = get_field(body, "tool_choice");
  if (!choice) return std::nullopt;
  std::vector<ToolFunction> functions = offered_functions(get_field(body, "tools"));
  std::optional<std::string> wanted;  // a named function
  if (choice->is_string()) {
    const std::string mode = choice->get<std::string>();
    if (mode == "auto") return std::nullopt;
    if (mode == "none") {
      body.erase("tools");
      return std::nullopt;
    }
    if (mode != "required")
      throw_http(400, "tool_choice must be \"none\", \"auto\", \"required\" or "
                      "{\"type\":\"function\",\"function\":{\"name\":...}}, not \"" + mode + "\"");
  } else if (choice->is_object()) {
    const Json* function = get_field(*choice, "function");
    wanted = function && function->is_object() ? get_string(*function, "name") : get_string(*choice, "name");
    if (!wanted || get_string(*choice, "type").value_or("function") != "function")
      throw_http(400, "tool_choice must name a function: {\"type\":\"function\",\"function\":{\"name\":...}}");
  } else {
    throw_http(400, "tool_choice must be a string or {\"type\":\"function\",\"function\":{\"name\":...}}");
  }
  if (functions.empty())
    throw_http(400, "tool_choice " + dump(*choice) + " needs \"tools\": no function is offered to call");
  if (!wanted) return functions;
  for (ToolFunction& f : functions)
    if (f.name == *wanted) return std::vector<ToolFunction>{std::move(f)};
  throw_http(400, "tool_choice names function \"" + *wanted + "\", which is not among the tools");
}

}  // namespace facet::server
