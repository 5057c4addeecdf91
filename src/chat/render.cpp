#include "chat/render.h"

#include "chat/jinja_values.h"
#include "chat/template_macros.h"
#include "util/error.h"

namespace facet::chat {

namespace {

// What the template remembers about the last thing it wrote (ns.prev_message_type): it
// decides how a model turn ends and whether a generation prompt follows.
enum class LastWritten { Nothing, Think, ToolDeclarations, ToolCall, ToolResponse, Image, Audio, Video };

bool is_system_like(Role role) { return role == Role::System || role == Role::Developer; }

class PromptWriter {
 public:
  PromptWriter(const RenderRequest& request, ChatRules rules) : request_(request), rules_(rules) {}

  std::string render() {
    const auto& messages = request_.messages;
    require(!messages.empty(), "the conversation has no messages");
    out_ = "<bos>";
    size_t first = write_system_turn();
    int last_user = -1;  // relative to the first message after the system turn
    for (size_t i = first; i < messages.size(); ++i)
      if (messages[i].role == Role::User) last_user = static_cast<int>(i - first);

    consumed_.assign(messages.size(), false);
    for (size_t i = first; i < messages.size(); ++i)
      if (messages[i].role != Role::Tool) write_message(i, static_cast<int>(i - first) > last_user);
    for (size_t i = first; i < messages.size(); ++i)
      require(messages[i].role != Role::Tool || consumed_[i], "messages[", i,
              "]: tool result does not follow an assistant message with tool_calls");

    if (request_.add_generation_prompt && last_ != LastWritten::ToolResponse && last_ != LastWritten::ToolCall) {
      out_ += "<|turn>model\n";
      // Large models were trained with an explicit empty thought when thinking is off.
      if (!request_.enable_thinking && rules_ == ChatRules::Large) out_ += "<|channel>thought\n<channel|>";
    }
    return std::move(out_);
  }

 private:
  // Returns the index of the first message the turn loop renders.
  size_t write_system_turn() {
    const auto& messages = request_.messages;
    bool system_first = is_system_like(messages[0].role);
    if (!request_.enable_thinking && request_.tools.empty() && !system_first) return 0;
    out_ += "<|turn>system\n";
    if (request_.enable_thinking) {
      out_ += "<|think|>\n";
      last_ = LastWritten::Think;
    }
    if (system_first) write_content(messages[0].content, /*model=*/false);
    for (const ToolDefinition& tool : request_.tools)
      out_ += "<|tool>" + jinja::trim(macros::format_function_declaration(tool.function)) + "<tool|>";
    if (!request_.tools.empty()) last_ = LastWritten::ToolDeclarations;
    out_ += "<turn|>\n";
    return system_first ? 1 : 0;
  }

  void write_message(size_t index, bool after_last_user) {
    const Message& message = request_.messages[index];
    last_ = LastWritten::Nothing;
    bool model = message.role == Role::Assistant;
    // Consecutive assistant messages (tool results between them aside) share one turn.
    if (!(model && previous_non_tool_role(index) == Role::Assistant))
      out_ += "<|turn>" + std::string(model ? "model" : role_name(message.role)) + "\n";

    // Thinking is kept only inside the current tool-calling loop.
    if (!message.reasoning.empty() && after_last_user && !message.tool_calls.empty())
      out_ += "<|channel>thought\n" + message.reasoning + "\n<channel|>";

    for (const ToolCall& call : message.tool_calls) write_tool_call(call);
    if (!message.tool_calls.empty()) last_ = LastWritten::ToolCall;

    bool wrote_responses = false;
    if (!message.tool_responses.empty()) {
      for (const ToolResponse& response : message.tool_responses)
        out_ += macros::format_tool_response_block(response.name, response.response);
      wrote_responses = true;
    } else if (!message.tool_calls.empty()) {
      for (size_t k = index + 1; k < request_.messages.size() && request_.messages[k].role == Role::Tool; ++k) {
        write_tool_result(message, k);
        wrote_responses = true;
      }
    }
    if (wrote_responses) last_ = LastWritten::ToolResponse;

    write_content(message.content, model);

    if (last_ == LastWritten::ToolCall && !wrote_responses) {
      out_ += "<|tool_response>";  // the model's next output is the tool's result
    } else if (!(wrote_responses && !message.content.truthy())) {
      out_ += "<turn|>\n";
    }
  }

  std::optional<Role> previous_non_tool_role(size_t index) const {
    for (size_t j = index; j-- > first_loop_index();)
      if (request_.messages[j].role != Role::Tool) return request_.messages[j].role;
    return std::nullopt;
  }

  size_t first_loop_index() const { return is_system_like(request_.messages[0].role) ? 1 : 0; }

  void write_tool_call(const ToolCall& call) {
    out_ += "<|tool_call>call:" + call.name + "{";
    if (call.arguments.is_object()) {
      bool first = true;
      for (const auto& [key, value] : jinja::dictsort(call.arguments)) {
        if (!first) out_ += ',';
        first = false;
        out_ += key + ":" + macros::format_argument(*value, /*escape_keys=*/false);
      }
    } else if (call.arguments.is_string()) {
      out_ += call.arguments.get<std::string>();
    }
    out_ += "}<tool_call|>";
  }

  void write_tool_result(const Message& caller, size_t index) {
    const Message& result = request_.messages[index];
    consumed_[index] = true;
    // The call whose id matches names the function (the last match wins, and a result
    // without an id matches a call without one, as in the template).
    std::optional<std::string> name = result.name;
    for (const ToolCall& call : caller.tool_calls)
      if (call.id == result.tool_call_id) name = call.name;
    if (!name)
      fail("messages[", index, "]: tool result ",
           result.tool_call_id ? "with tool_call_id \"" + *result.tool_call_id + "\" " : std::string(),
           "matches no tool call of the assistant message before it and has no name");

    const Content& body = result.content;
    if (body.form == Content::Form::Text) {
      out_ += macros::format_tool_response_block(*name, Json(body.text));
    } else if (body.form == Content::Form::Parts) {
      std::string text;
      for (const ContentPart& part : body.parts)
        if (part.kind == PartKind::Text) text += part.text;
      out_ += macros::format_tool_response_block(*name, Json(text));
    } else {
      out_ += macros::format_tool_response_block(*name, body.structured);  // null prints None
    }
  }

  void write_content(const Content& content, bool model) {
    auto text_of = [model](std::string_view text) {
      return model ? macros::strip_thinking(text) : jinja::trim(text);
    };
    if (content.form == Content::Form::Text) {
      out_ += text_of(content.text);
    } else if (content.form == Content::Form::Parts) {
      for (const ContentPart& part : content.parts) {
        switch (part.kind) {
          case PartKind::Text: out_ += text_of(part.text); break;
          case PartKind::Image: out_ += "<|image|>"; last_ = LastWritten::Image; break;
          case PartKind::Audio: out_ += "<|audio|>"; last_ = LastWritten::Audio; break;
          case PartKind::Video: out_ += "<|video|>"; last_ = LastWritten::Video; break;
          case PartKind::Other: break;
        }
      }
    }
  }

  const RenderRequest& request_;
  ChatRules rules_;
  std::string out_;
  LastWritten last_ = LastWritten::Nothing;
  std::vector<bool> consumed_;
};

}  // namespace

std::string render_chat(const RenderRequest& request, ChatRules rules) {
  return PromptWriter(request, rules).render();
}

}  // namespace facet::chat
