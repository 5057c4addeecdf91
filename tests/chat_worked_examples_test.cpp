// The worked examples of gemma4-tokenizer-and-chat.md §2.5: rendered prompt text, its
// token ids, and the parsed model output, all as the spec states them.
#include <gtest/gtest.h>

#include "chat/output_parser.h"
#include "chat/render.h"
#include "chat/render_request.h"
#include "support/gemma4_tokenizer.h"

namespace facet {
namespace {

using chat::ChatRules;

std::string render(const std::string& request_json, ChatRules rules) {
  return chat::render_chat(chat::render_request_from_json_text(request_json), rules);
}

std::vector<int32_t> ids_of(const std::string& text) { return test::gemma4_tokenizer().encode(text); }

TEST(ChatWorkedExamples, A_SingleUserMessage) {
  const std::string req = R"({"messages":[{"role":"user","content":"What is the capital of France?"}]})";
  const std::string small = render(req, ChatRules::Small);
  EXPECT_EQ(small, "<bos><|turn>user\nWhat is the capital of France?<turn|>\n<|turn>model\n");
  EXPECT_EQ(ids_of(small), (std::vector<int32_t>{2, 105, 2364, 107, 3689, 563, 506, 5279, 529, 7001, 236881,
                                                 106, 107, 105, 4368, 107}));
  const std::string large = render(req, ChatRules::Large);
  EXPECT_EQ(large, small + "<|channel>thought\n<channel|>");
  auto large_ids = ids_of(large);
  const std::vector<int32_t> tail = {105, 4368, 107, 100, 45518, 107, 101};
  ASSERT_GE(large_ids.size(), tail.size());
  EXPECT_EQ(std::vector<int32_t>(large_ids.end() - static_cast<long>(tail.size()), large_ids.end()), tail);
}

TEST(ChatWorkedExamples, B_MultiTurnWithSystem) {
  const std::string req = R"({"messages":[
    {"role":"system","content":"You are a helpful assistant."},
    {"role":"user","content":"Hi!"},
    {"role":"assistant","content":"Hello! How can I help you today?"},
    {"role":"user","content":"Tell me a joke."}]})";
  const std::string text = render(req, ChatRules::Small);
  EXPECT_EQ(text,
            "<bos><|turn>system\nYou are a helpful assistant.<turn|>\n<|turn>user\nHi!<turn|>\n<|turn>model\n"
            "Hello! How can I help you today?<turn|>\n<|turn>user\nTell me a joke.<turn|>\n<|turn>model\n");
  EXPECT_EQ(ids_of(text),
            (std::vector<int32_t>{2, 105, 9731, 107, 3048, 659, 496, 11045, 16326, 236761, 106, 107, 105, 2364, 107,
                                  10979, 236888, 106, 107, 105, 4368, 107, 9259, 236888, 2088, 740, 564, 1601, 611,
                                  3124, 236881, 106, 107, 105, 2364, 107, 54593, 786, 496, 31481, 236761, 106, 107,
                                  105, 4368, 107}));
}

TEST(ChatWorkedExamples, C_ThinkingEnabledAndItsCompletion) {
  const std::string req = R"({"messages":[{"role":"user","content":"What is 17 * 23?"}],"enable_thinking":true})";
  const std::string text = render(req, ChatRules::Small);
  EXPECT_EQ(text, "<bos><|turn>system\n<|think|>\n<turn|>\n<|turn>user\nWhat is 17 * 23?<turn|>\n<|turn>model\n");
  EXPECT_EQ(ids_of(text), (std::vector<int32_t>{2, 105, 9731, 107, 98, 107, 106, 107, 105, 2364, 107, 3689, 563,
                                                236743, 236770, 236832, 808, 236743, 236778, 236800, 236881, 106,
                                                107, 105, 4368, 107}));
  // The completion, parsed token by token through the detokenized pieces.
  const std::string completion =
      "<|channel>thought\n17 * 23 = 17 * 20 + 17 * 3 = 340 + 51 = 391.<channel|>17 * 23 = 391.<turn|>";
  chat::OutputParser parser;
  std::string thinking, content;
  for (int32_t id : ids_of(completion)) {
    auto d = parser.feed(test::gemma4_tokenizer().decode(std::vector<int32_t>{id}));
    thinking += d.thinking;
    content += d.content;
  }
  auto d = parser.finish();
  thinking += d.thinking;
  content += d.content;
  EXPECT_EQ(thinking, "17 * 23 = 17 * 20 + 17 * 3 = 340 + 51 = 391.");
  EXPECT_EQ(content, "17 * 23 = 391.");
  // In the next request the turn is rendered without its thinking.
  const std::string next = render(R"({"messages":[{"role":"user","content":"What is 17 * 23?"},
    {"role":"assistant","content":"17 * 23 = 391.","reasoning_content":"17 * 23 = 17 * 20 + 17 * 3 = 340 + 51 = 391."},
    {"role":"user","content":"Thanks"}],"enable_thinking":true})", ChatRules::Small);
  EXPECT_NE(next.find("<|turn>model\n17 * 23 = 391.<turn|>\n"), std::string::npos) << next;
  EXPECT_EQ(next.find("340 + 51"), std::string::npos) << next;
}

TEST(ChatWorkedExamples, D_ToolDeclarationCallAndResult) {
  const std::string tools = R"("tools":[{"type":"function","function":{"name":"get_weather",
    "description":"Get the current weather for a city","parameters":{"type":"object",
    "properties":{"city":{"type":"string","description":"City name"}},"required":["city"]}}}])";
  const std::string prompt1 = render(R"({"messages":[{"role":"user","content":"What's the weather in Paris?"}],)" +
                                         tools + "}",
                                     ChatRules::Small);
  EXPECT_EQ(prompt1,
            "<bos><|turn>system\n<|tool>declaration:get_weather{description:<|\"|>Get the current weather for a "
            "city<|\"|>,parameters:{properties:{city:{description:<|\"|>City name<|\"|>,type:<|\"|>STRING<|\"|>}},"
            "required:[<|\"|>city<|\"|>],type:<|\"|>OBJECT<|\"|>}}<tool|><turn|>\n<|turn>user\nWhat's the weather in "
            "Paris?<turn|>\n<|turn>model\n");
  EXPECT_EQ(ids_of(prompt1),
            (std::vector<int32_t>{2, 105, 9731, 107, 46, 163688, 236787, 828, 236779, 19323, 236782, 7777, 236787, 52,
                                  3407, 506, 1873, 7606, 573, 496, 3207, 52, 236764, 19031, 29616, 15921, 29616,
                                  13319, 29616, 7777, 236787, 52, 17698, 1463, 52, 236764, 2084, 236787, 52, 35410,
                                  52, 5237, 15979, 24845, 52, 13319, 52, 1604, 2084, 236787, 52, 60688, 52, 1807, 47,
                                  106, 107, 105, 2364, 107, 3689, 236789, 236751, 506, 7606, 528, 9079, 236881, 106,
                                  107, 105, 4368, 107}));
  // Model output, stopping on <|tool_response> (id 50).
  const std::vector<int32_t> output = {48, 6639, 236787, 828, 236779, 19323, 236782, 13319, 236787, 52, 50429, 52, 236783, 49, 50};
  EXPECT_EQ(test::gemma4_tokenizer().decode(output),
            "<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}<tool_call|><|tool_response>");
  chat::OutputParser parser;
  std::vector<chat::ParsedToolCall> calls;
  std::string content;
  for (int32_t id : output) {
    auto d = parser.feed(test::gemma4_tokenizer().decode(std::vector<int32_t>{id}));
    content += d.content;
    calls.insert(calls.end(), d.tool_calls.begin(), d.tool_calls.end());
  }
  auto d = parser.finish();
  calls.insert(calls.end(), d.tool_calls.begin(), d.tool_calls.end());
  content += d.content;
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].name, "get_weather");
  EXPECT_EQ(calls[0].arguments, nlohmann::ordered_json::parse(R"({"city":"Paris"})"));
  EXPECT_EQ(content, "");
  // Prompt 2: the call and its result continue the same model turn.
  const std::string prompt2 = render(R"({"messages":[{"role":"user","content":"What's the weather in Paris?"},
    {"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":{"city":"Paris"}}}]},
    {"role":"tool","tool_call_id":"c1","content":"Sunny, 21 C"}],)" + tools + "}",
                                     ChatRules::Small);
  const std::string expected_tail =
      "<|turn>model\n<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}<tool_call|><|tool_response>response:get_"
      "weather{value:<|\"|>Sunny, 21 C<|\"|>}<tool_response|>";
  ASSERT_GE(prompt2.size(), expected_tail.size());
  EXPECT_EQ(prompt2.substr(prompt2.size() - expected_tail.size()), expected_tail) << prompt2;
  auto ids2 = ids_of(prompt2);
  const std::vector<int32_t> tail = {48, 6639, 236787, 828, 236779, 19323, 236782, 13319, 236787, 52, 50429, 52, 236783,
                                     49, 50, 6275, 236787, 828, 236779, 19323, 236782, 2394, 236787, 52, 118538,
                                     236764, 236743, 236778, 236770, 565, 52, 236783, 51};
  ASSERT_GE(ids2.size(), tail.size());
  EXPECT_EQ(std::vector<int32_t>(ids2.end() - static_cast<long>(tail.size()), ids2.end()), tail);
}

}  // namespace
}  // namespace facet
