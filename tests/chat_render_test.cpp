// One test per rule of the Gemma 4 chat template. Expected prompts were rendered from the
// official template with Jinja2 (tests/tools/render_reference.py), not by this renderer.
#include <gtest/gtest.h>

#include <string>

#include "chat/render.h"
#include "chat/render_request.h"
#include "util/error.h"

namespace facet::chat {
namespace {

std::string render(std::string_view request_json, ChatRules rules = ChatRules::Large) {
  return render_chat(render_request_from_json_text(request_json), rules);
}

TEST(ChatRender, DeveloperFirstMessageBecomesTheTrimmedSystemTurn) {
  EXPECT_EQ(render(R"({"messages":[{"role":"developer","content":"  Be terse.\n"},{"role":"user","content":"Hi"}]})"),
            "<bos><|turn>system\nBe terse.<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
}

TEST(ChatRender, LaterSystemMessageIsATurnInPlace) {
  EXPECT_EQ(render(R"({"messages":[{"role":"user","content":"Hi"},{"role":"system","content":"Now answer in German."},
                                   {"role":"user","content":"Bye"}],"add_generation_prompt":false})"),
            "<bos><|turn>user\nHi<turn|>\n<|turn>system\nNow answer in German.<turn|>\n<|turn>user\nBye<turn|>\n");
}

TEST(ChatRender, OldThoughtsAreStrippedFromModelTurns) {
  EXPECT_EQ(render(R"({"messages":[{"role":"user","content":"2+2?"},
                                   {"role":"assistant","content":"<|channel>thought\nsimple<channel|>4"},
                                   {"role":"user","content":"3+3?"}],"enable_thinking":true})"),
            "<bos><|turn>system\n<|think|>\n<turn|>\n<|turn>user\n2+2?<turn|>\n<|turn>model\n4<turn|>\n"
            "<|turn>user\n3+3?<turn|>\n<|turn>model\n");
}

constexpr const char* kToolLoop =
    R"({"role":"user","content":"Weather?"},
       {"role":"assistant","reasoning_content":"need the tool",
        "tool_calls":[{"id":"c1","function":{"name":"get_weather","arguments":{"city":"Oslo"}}}]},
       {"role":"tool","tool_call_id":"c1","content":"cold"})";

TEST(ChatRender, ReasoningIsKeptInsideTheCurrentToolLoop) {
  EXPECT_EQ(render(std::string(R"({"enable_thinking":true,"messages":[)") + kToolLoop + "]}"),
            "<bos><|turn>system\n<|think|>\n<turn|>\n<|turn>user\nWeather?<turn|>\n<|turn>model\n"
            "<|channel>thought\nneed the tool\n<channel|>"
            "<|tool_call>call:get_weather{city:<|\"|>Oslo<|\"|>}<tool_call|>"
            "<|tool_response>response:get_weather{value:<|\"|>cold<|\"|>}<tool_response|>");
}

TEST(ChatRender, ReasoningIsDroppedOnceANewUserMessageFollows) {
  std::string request = std::string(R"({"enable_thinking":true,"messages":[)") + kToolLoop +
                        R"(,{"role":"assistant","content":"Cold."},{"role":"user","content":"Thanks"}]})";
  EXPECT_EQ(render(request),
            "<bos><|turn>system\n<|think|>\n<turn|>\n<|turn>user\nWeather?<turn|>\n<|turn>model\n"
            "<|tool_call>call:get_weather{city:<|\"|>Oslo<|\"|>}<tool_call|>"
            "<|tool_response>response:get_weather{value:<|\"|>cold<|\"|>}<tool_response|>Cold.<turn|>\n"
            "<|turn>user\nThanks<turn|>\n<|turn>model\n");
}

TEST(ChatRender, ToolResultsAreNamedByTheirCallIdInAnyOrder) {
  EXPECT_EQ(render(R"({"messages":[{"role":"user","content":"Both?"},
      {"role":"assistant","tool_calls":[{"id":"a","function":{"name":"get_weather","arguments":{"city":"Oslo"}}},
                                        {"id":"b","function":{"name":"get_time","arguments":{}}}]},
      {"role":"tool","tool_call_id":"b","content":"12:00"},{"role":"tool","tool_call_id":"a","content":"cold"}]})"),
            "<bos><|turn>user\nBoth?<turn|>\n<|turn>model\n"
            "<|tool_call>call:get_weather{city:<|\"|>Oslo<|\"|>}<tool_call|><|tool_call>call:get_time{}<tool_call|>"
            "<|tool_response>response:get_time{value:<|\"|>12:00<|\"|>}<tool_response|>"
            "<|tool_response>response:get_weather{value:<|\"|>cold<|\"|>}<tool_response|>");
}

TEST(ChatRender, CallWithoutResultEndsWithToolResponseAndNoGenerationPrompt) {
  EXPECT_EQ(render(R"({"messages":[{"role":"user","content":"Weather?"},
      {"role":"assistant","tool_calls":[{"id":"a","function":{"name":"get_weather","arguments":{"city":"Oslo"}}}]}]})"),
            "<bos><|turn>user\nWeather?<turn|>\n<|turn>model\n"
            "<|tool_call>call:get_weather{city:<|\"|>Oslo<|\"|>}<tool_call|><|tool_response>");
}

TEST(ChatRender, AnswerAfterToolResultsContinuesTheModelTurn) {
  EXPECT_EQ(render(R"({"messages":[{"role":"user","content":"Call it"},
      {"role":"assistant","tool_calls":[{"id":"a","function":{"name":"set","arguments":{"b":[1,2.5,true,null],"a":{"y":"<q>","X":-1}}}}]},
      {"role":"tool","tool_call_id":"a","content":"done"},{"role":"assistant","content":"Done."}]})"),
            "<bos><|turn>user\nCall it<turn|>\n<|turn>model\n"
            "<|tool_call>call:set{a:{X:-1,y:<|\"|><q><|\"|>},b:[1,2.5,true,None]}<tool_call|>"
            "<|tool_response>response:set{value:<|\"|>done<|\"|>}<tool_response|>Done.<turn|>\n"
            "<|turn>model\n<|channel>thought\n<channel|>");
}

TEST(ChatRender, MediaPartsBecomePlaceholdersJoinedWithText) {
  EXPECT_EQ(render(R"({"messages":[{"role":"user","content":[{"type":"image"},{"type":"text","text":"What is this?"},
                                                              {"type":"audio"},{"type":"video"}]}]})"),
            "<bos><|turn>user\n<|image|>What is this?<|audio|><|video|><turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
  // OpenAI's part names map to the same placeholders.
  EXPECT_EQ(render(R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:,"}},
                                                              {"type":"input_audio","input_audio":{"data":""}}]}]})"),
            "<bos><|turn>user\n<|image|><|audio|><turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
}

TEST(ChatRender, ToolDeclarationsFollowTheSystemText) {
  EXPECT_EQ(render(R"({"messages":[{"role":"system","content":"Use tools."},{"role":"user","content":"Hi"}],
      "tools":[{"type":"function","function":{"name":"ping","description":"Ping a host",
               "parameters":{"type":"object","properties":{"host":{"type":"string"}},"required":["host"]}}}]})"),
            "<bos><|turn>system\nUse tools.<|tool>declaration:ping{description:<|\"|>Ping a host<|\"|>,"
            "parameters:{properties:{host:{type:<|\"|>STRING<|\"|>}},required:[<|\"|>host<|\"|>],"
            "type:<|\"|>OBJECT<|\"|>}}<tool|><turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
}

TEST(ChatRender, SmallRulesEndTheGenerationPromptAtTheModelTurn) {
  const char* request = R"({"messages":[{"role":"user","content":"Hi"}]})";
  EXPECT_EQ(render(request, ChatRules::Small), "<bos><|turn>user\nHi<turn|>\n<|turn>model\n");
  EXPECT_EQ(render(request, ChatRules::Large), "<bos><|turn>user\nHi<turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
  const char* thinking = R"({"messages":[{"role":"user","content":"Hi"}],"enable_thinking":true})";
  EXPECT_EQ(render(thinking, ChatRules::Small), render(thinking, ChatRules::Large));
}

TEST(ChatRender, StructsRenderWithoutJson) {
  RenderRequest request;
  Message user;
  user.content = Content::of_parts({ContentPart::of(PartKind::Image), ContentPart::of_text(" Describe ")});
  Message model;
  model.role = Role::Assistant;
  model.tool_calls.push_back({"id1", "look", Json::parse(R"({"zoom":2})")});
  Message result;
  result.role = Role::Tool;
  result.tool_call_id = "id1";
  // A mapping result takes the template's mapping form (as Gemma-native tool_responses do).
  result.content = Content::of_json(Json::parse(R"({"seen":"cat"})"));
  request.messages = {user, model, result};
  EXPECT_EQ(render_chat(request),
            "<bos><|turn>user\n<|image|>Describe<turn|>\n<|turn>model\n<|tool_call>call:look{zoom:2}<tool_call|>"
            "<|tool_response>response:look{seen:<|\"|>cat<|\"|>}<tool_response|>");
}

TEST(ChatRender, RejectsConversationsTheTemplateCannotRender) {
  RenderRequest empty;
  EXPECT_THROW(render_chat(empty), Error);
  // A tool result with no assistant call before it.
  EXPECT_THROW(render(R"({"messages":[{"role":"user","content":"Hi"},{"role":"tool","tool_call_id":"x","content":"r"}]})"),
               Error);
  // An id that matches no call, and no name to fall back on.
  try {
    render(R"({"messages":[{"role":"user","content":"Hi"},
        {"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":{}}}]},
        {"role":"tool","tool_call_id":"zzz","content":"r"}]})");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("zzz"), std::string::npos) << e.what();
  }
}

TEST(ChatRender, ParsesRuleNames) {
  EXPECT_EQ(parse_chat_rules("small"), ChatRules::Small);
  EXPECT_EQ(parse_chat_rules("large"), ChatRules::Large);
  EXPECT_THROW(parse_chat_rules("medium"), Error);
}

}  // namespace
}  // namespace facet::chat
