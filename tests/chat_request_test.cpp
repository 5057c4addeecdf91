// Reading OpenAI-style request bodies into RenderRequest: the switches, the normalizations
// for the template, and clear errors for bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>

#include "chat/render.h"
#include "chat/render_request.h"
#include "support/paths.h"
#include "util/error.h"

namespace facet::chat {
namespace {

RenderRequest read(std::string_view json) { return render_request_from_json_text(json); }

constexpr const char* kHi = R"("messages":[{"role":"user","content":"Hi"}])";

RenderRequest with(const std::string& fields) { return read(std::string("{") + kHi + fields + "}"); }

TEST(ChatRequest, DefaultsAreNoThinkingAndAGenerationPrompt) {
  RenderRequest request = with("");
  EXPECT_FALSE(request.enable_thinking);
  EXPECT_TRUE(request.add_generation_prompt);
  EXPECT_FALSE(with(R"(,"add_generation_prompt":false)").add_generation_prompt);
}

TEST(ChatRequest, ThinkingSwitches) {
  EXPECT_TRUE(with(R"(,"enable_thinking":true)").enable_thinking);
  EXPECT_TRUE(with(R"(,"chat_template_kwargs":{"enable_thinking":true})").enable_thinking);
  EXPECT_TRUE(with(R"(,"reasoning_effort":"high")").enable_thinking);
  EXPECT_TRUE(with(R"(,"reasoning_effort":"low")").enable_thinking);
  EXPECT_FALSE(with(R"(,"reasoning_effort":"none")").enable_thinking);
  EXPECT_TRUE(with(R"(,"reasoning":{"effort":"medium"})").enable_thinking);
  EXPECT_TRUE(with(R"(,"think":true)").enable_thinking);
  // The template's own switch wins over the generic ones.
  EXPECT_FALSE(with(R"(,"chat_template_kwargs":{"enable_thinking":false},"reasoning_effort":"high")").enable_thinking);
  EXPECT_FALSE(with(R"(,"enable_thinking":false,"reasoning_effort":"high")").enable_thinking);
  EXPECT_THROW(with(R"(,"reasoning_effort":"extreme")"), Error);
  EXPECT_THROW(with(R"(,"enable_thinking":"yes")"), Error);
}

TEST(ChatRequest, RolesAndContentForms) {
  RenderRequest request = read(R"({"messages":[
      {"role":"system","content":"S"},{"role":"developer","content":"D"},
      {"role":"user","content":[{"type":"text","text":"T"},{"type":"image_url","image_url":{"url":"x"}},{"type":"file"}]},
      {"role":"assistant","content":null,"reasoning_content":"R","tool_calls":[{"id":"1","function":{"name":"f","arguments":{}}}]},
      {"role":"tool","tool_call_id":"1","content":{"k":1}}]})");
  ASSERT_EQ(request.messages.size(), 5u);
  EXPECT_EQ(request.messages[0].role, Role::System);
  EXPECT_EQ(request.messages[1].role, Role::Developer);
  const Content& parts = request.messages[2].content;
  ASSERT_EQ(parts.form, Content::Form::Parts);
  ASSERT_EQ(parts.parts.size(), 3u);
  EXPECT_EQ(parts.parts[0].text, "T");
  EXPECT_EQ(parts.parts[1].kind, PartKind::Image);
  EXPECT_EQ(parts.parts[2].kind, PartKind::Other);
  EXPECT_EQ(request.messages[3].content.form, Content::Form::Absent);
  EXPECT_EQ(request.messages[3].reasoning, "R");
  EXPECT_EQ(request.messages[4].content.form, Content::Form::Structured);
  EXPECT_EQ(request.messages[4].tool_call_id, "1");
}

TEST(ChatRequest, ReasoningFieldsInTheTemplatesOrder) {
  auto reasoning_of = [](const std::string& fields) {
    return read(R"({"messages":[{"role":"assistant","content":"A")" + fields + "}]}").messages[0].reasoning;
  };
  EXPECT_EQ(reasoning_of(R"(,"reasoning":"r","reasoning_content":"rc")"), "r");
  EXPECT_EQ(reasoning_of(R"(,"reasoning":"","reasoning_content":"rc")"), "rc");
  EXPECT_EQ(reasoning_of(R"(,"thinking":"t")"), "t");
}

TEST(ChatRequest, StringArgumentsHoldingAnObjectAreDecoded) {
  RenderRequest request = read(R"({"messages":[{"role":"assistant","tool_calls":[
      {"id":"1","type":"function","function":{"name":"f","arguments":"{\"city\":\"Paris\",\"n\":2}"}},
      {"id":"2","type":"function","function":{"name":"g","arguments":"not json"}}]}]})");
  const auto& calls = request.messages[0].tool_calls;
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].arguments, Json::parse(R"({"city":"Paris","n":2})"));
  EXPECT_EQ(calls[1].arguments, Json("not json"));  // kept verbatim, as the template would
}

TEST(ChatRequest, ToolResultNamesAndToolForms) {
  RenderRequest request = read(R"({"messages":[{"role":"tool","tool_name":"lookup","content":"x"}],
      "tools":[{"type":"function","function":{"name":"a"}},{"name":"b","parameters":{"type":"object"}}]})");
  EXPECT_EQ(request.messages[0].name, "lookup");
  ASSERT_EQ(request.tools.size(), 2u);
  EXPECT_EQ(request.tools[0].function.at("name"), "a");
  EXPECT_EQ(request.tools[1].function.at("name"), "b");
}

// Each bad request fails with an Error whose message names the problem.
void expect_error(std::string_view json, std::string_view mentions) {
  try {
    read(json);
    ADD_FAILURE() << "accepted: " << json;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(mentions), std::string::npos) << e.what();
  }
}

TEST(ChatRequest, BadInputIsAClearError) {
  expect_error(R"({"messages":[{"role":"user","content":"Hi"})", "malformed JSON");
  expect_error("", "malformed JSON");
  expect_error("[1,2]", "JSON object");
  expect_error(R"({"prompt":"Hi"})", "\"messages\"");
  expect_error(R"({"messages":[]})", "empty");
  expect_error(R"({"messages":[{"role":"wizard","content":"Hi"}]})", "unknown role \"wizard\"");
  expect_error(R"({"messages":[{"content":"Hi"}]})", "messages[0].role");
  expect_error(R"({"messages":[{"role":"user","content":42}]})", "messages[0].content");
  expect_error(R"({"messages":[{"role":"user","content":{"text":"Hi"}}]})", "messages[0].content");
  expect_error(R"({"messages":[{"role":"user","content":[{"type":"text"}]}]})", "messages[0].content[0].text");
  expect_error(R"({"messages":[{"role":"user","content":[{"type":"text","text":7}]}]})", "content[0].text");
  expect_error(R"({"messages":[{"role":"user","content":["Hi"]}]})", "content[0]");
  expect_error(R"({"messages":[{"role":"user","content":"Hi","tool_calls":[{"function":{"name":"f"}}]}]})",
               "only assistant");
  expect_error(R"({"messages":[{"role":"assistant","tool_calls":[{"function":{"arguments":{}}}]}]})",
               "tool_calls[0].function.name");
  expect_error(R"({"messages":[{"role":"tool","tool_call_id":5,"content":"r"}]})", "tool_call_id");
  expect_error(R"({"messages":[{"role":"user","content":"Hi"}],"tools":{"name":"f"}})", "\"tools\"");
  expect_error(R"({"messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function"}]})", "tools[0]");
  expect_error(R"({"messages":[{"role":"user","content":"Hi"}],"tools":[{"function":{"name":"f","parameters":[]}}]})",
               "parameters");
  expect_error(R"({"messages":[{"role":"user","content":"Hi"}],"add_generation_prompt":"yes"})",
               "add_generation_prompt");
}

// Every node of the golden requests replaced in turn by a value of each other JSON type:
// reading and rendering must either work or fail with facet::Error, nothing else.
TEST(ChatRequest, TypeConfusedRequestsFailOnlyWithError) {
  std::ifstream in(test::data_dir() + "/chat/golden-31B.jsonl");
  const Json replacements[] = {Json(), Json(true), Json(0), Json(-1.5), Json(""), Json("x"), Json::array(),
                               Json::object(), Json::parse(R"([{"type":"text"}])"), Json::parse(R"({"name":1})")};
  size_t rendered = 0, rejected = 0;
  for (std::string line; std::getline(in, line);) {
    Json original = Json::parse(line);
    std::vector<Json::json_pointer> pointers;
    const Json leaves = original.flatten();
    for (const auto& [pointer, leaf] : leaves.items()) {
      (void)leaf;
      for (auto path = Json::json_pointer(pointer); !path.empty(); path = path.parent_pointer())
        pointers.push_back(path);
    }
    for (const auto& pointer : pointers) {
      for (const Json& replacement : replacements) {
        Json mutated = original;
        mutated[pointer] = replacement;
        try {
          render_chat(render_request_from_json(mutated), ChatRules::Large);
          ++rendered;
        } catch (const Error&) {
          ++rejected;
        } catch (const std::exception& e) {
          ADD_FAILURE() << "non-facet exception " << e.what() << " for " << mutated.dump();
        }
      }
    }
  }
  EXPECT_GT(rendered, 100u);
  EXPECT_GT(rejected, 100u);
}

}  // namespace
}  // namespace facet::chat
