// Reading Gemma's tool-call argument syntax back into JSON.
#include <gtest/gtest.h>

#include <string>

#include "chat/template_macros.h"
#include "chat/tool_call_syntax.h"

namespace facet::chat {
namespace {

Json value(std::string_view text, bool repair = false) {
  auto parsed = parse_gemma_value(text, repair);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(Json("<unparsed>"));
}

TEST(ChatToolCallSyntax, ScalarsAndStrings) {
  EXPECT_EQ(value("42"), Json(42));
  EXPECT_EQ(value("-2.5e-3"), Json(-0.0025));
  EXPECT_EQ(value("true"), Json(true));
  EXPECT_EQ(value("null"), Json(nullptr));
  EXPECT_EQ(value("<|\"|>a \"quoted\" {x}<|\"|>"), Json("a \"quoted\" {x}"));
  EXPECT_EQ(value("\"tab\\there\""), Json("tab\there"));
  EXPECT_EQ(value("'it\\'s'"), Json("it's"));
  EXPECT_EQ(value("  some words  "), Json("some words"));
  EXPECT_EQ(value("12abc"), Json("12abc"));
  EXPECT_EQ(value("{a:1 b:2}"), Json::parse(R"({"a":"1 b:2"})"));  // unquoted text runs to , } or ]
}

TEST(ChatToolCallSyntax, ContainersKeepTheModelsKeyOrder) {
  Json parsed = value("{z:1,a:[1,[2,{}]],<|\"|>quoted key<|\"|>:<|\"|>v<|\"|>,\"k\":2}");
  EXPECT_EQ(parsed.dump(), R"({"z":1,"a":[1,[2,{}]],"quoted key":"v","k":2})");
}

TEST(ChatToolCallSyntax, IncompleteTextParsesOnlyWithRepair) {
  for (std::string_view text : {"{a:1", "{a:[1,2", "{a:<|\"|>open", "{a:1,b", "{a:{b:<|\"|>x}}"}) {
    EXPECT_FALSE(parse_gemma_value(text, false).has_value()) << text;
    EXPECT_TRUE(parse_gemma_value(text, true).has_value()) << text;
  }
  EXPECT_EQ(value("{a:1,b", true), Json::parse(R"({"a":1})"));
  EXPECT_EQ(value("{a:{b:<|\"|>x}}", true), Json::parse(R"({"a":{"b":"x"}})"));
}

TEST(ChatToolCallSyntax, RejectsWhatIsNotAValue) {
  for (std::string_view text : {"", "{a}", "{:1}", "{a:1]", "[1}", "{a:1}}x", "{a:}"})
    EXPECT_FALSE(parse_gemma_value(text, true).has_value()) << text;
  std::string deep(200, '[');
  EXPECT_FALSE(parse_gemma_value(deep + std::string(200, ']'), true).has_value());  // refuses, no stack overflow
}

TEST(ChatToolCallSyntax, CallNamesAndArguments) {
  auto parsed = parse_tool_call("call:get_weather{city:<|\"|>Paris<|\"|>}", false);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->name, "get_weather");
  EXPECT_EQ(parsed->arguments, Json::parse(R"({"city":"Paris"})"));
  ASSERT_TRUE(parse_tool_call("  ns.tool-v2{}  ", false));  // "call:" is optional
  EXPECT_EQ(parse_tool_call("ns.tool-v2{}", false)->name, "ns.tool-v2");
  EXPECT_FALSE(parse_tool_call("call:{a:1}", true));
  EXPECT_FALSE(parse_tool_call("call:two words{}", true));
  EXPECT_FALSE(parse_tool_call("call:f[1]", true));
}

// What the template writes for earlier calls must read back as the same JSON.
TEST(ChatToolCallSyntax, ReadsBackWhatTheTemplateWrites) {
  Json arguments = Json::parse(R"({"s":"a, b: {c}","n":-12,"f":0.5,"big":1e+16,"t":false,"z":null,
                                   "list":[1,"two",[3],{"k":"v"}],"obj":{"Inner":{"deep":true}}})");
  std::string written = "call:f" + macros::format_argument(arguments, /*escape_keys=*/false);
  auto parsed = parse_tool_call(written, false);
  ASSERT_TRUE(parsed) << written;
  EXPECT_EQ(nlohmann::json(parsed->arguments), nlohmann::json(arguments)) << written;  // key order aside
}

}  // namespace
}  // namespace facet::chat

namespace facet::chat {
namespace {

// Found by fuzzing: invalid UTF-8 inside a call made the JSON arguments impossible to
// serialise (nlohmann::json throws on dump). Broken bytes become U+FFFD instead.
TEST(ChatToolCallSyntaxFuzzRegression, InvalidUtf8InArgumentsBecomesReplacementCharacters) {
  using namespace std::string_view_literals;
  auto call = parse_tool_call("call:f{a:<|\"|>x\x01\x00\xd2\x00y<|\"|>}"sv, /*repair=*/false);
  ASSERT_TRUE(call.has_value());
  std::string dumped;
  ASSERT_NO_THROW(dumped = call->arguments.dump());
  EXPECT_NE(dumped.find("\xEF\xBF\xBD"), std::string::npos) << dumped;
}

}  // namespace
}  // namespace facet::chat
