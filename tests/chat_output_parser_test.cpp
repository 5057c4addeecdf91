// The streaming output parser: each output is checked against hand-written expectations,
// and every case is fed in every 1-, 2- and 3-piece split, char by char, in token-like
// chunks and in random chunks: the accumulated result must not depend on the split.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "chat/output_parser.h"

namespace facet::chat {
namespace {

struct Parsed {
  std::string thinking;
  std::string content;
  std::vector<ParsedToolCall> calls;
  bool operator==(const Parsed&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Parsed& parsed) {
  out << "thinking=\"" << parsed.thinking << "\" content=\"" << parsed.content << "\" calls=[";
  for (const auto& call : parsed.calls) out << call.name << call.arguments.dump() << " ";
  return out << "]";
}

void add(Parsed& parsed, OutputDelta delta) {
  parsed.thinking += delta.thinking;
  parsed.content += delta.content;
  for (auto& call : delta.tool_calls) parsed.calls.push_back(std::move(call));
}

Parsed parse_pieces(const std::vector<std::string>& pieces, OutputParserOptions options = {}, bool truncated = false) {
  OutputParser parser(options);
  Parsed parsed;
  for (const auto& piece : pieces) add(parsed, parser.feed(piece));
  add(parsed, parser.finish(truncated));
  return parsed;
}

Parsed parse_whole(const std::string& output, OutputParserOptions options = {}, bool truncated = false) {
  return parse_pieces({output}, options, truncated);
}

ParsedToolCall call(std::string name, std::string_view arguments_json) {
  return {std::move(name), Json::parse(arguments_json)};
}

// Splits at every special-token boundary and after every space: roughly what a detokenizer emits.
std::vector<std::string> token_like_chunks(const std::string& output) {
  std::vector<std::string> chunks;
  std::string current;
  for (size_t i = 0; i < output.size(); ++i) {
    if (output[i] == '<' && !current.empty()) chunks.push_back(std::exchange(current, {}));
    current += output[i];
    if (output[i] == '>' || output[i] == ' ') chunks.push_back(std::exchange(current, {}));
  }
  if (!current.empty()) chunks.push_back(current);
  return chunks;
}

void expect_split_invariant(const std::string& output, const Parsed& expected, OutputParserOptions options = {}) {
  ASSERT_EQ(parse_whole(output, options), expected) << "whole: " << output;
  std::vector<std::string> chars;
  for (char c : output) chars.emplace_back(1, c);
  ASSERT_EQ(parse_pieces(chars, options), expected) << "char by char: " << output;
  ASSERT_EQ(parse_pieces(token_like_chunks(output), options), expected) << "token-like: " << output;
  const size_t n = output.size();
  for (size_t i = 0; i <= n; ++i) {
    ASSERT_EQ(parse_pieces({output.substr(0, i), output.substr(i)}, options), expected) << "split at " << i;
    if (n > 120) continue;  // 3-piece splits are quadratic; the long cases get random ones
    for (size_t j = i; j <= n; ++j)
      ASSERT_EQ(parse_pieces({output.substr(0, i), output.substr(i, j - i), output.substr(j)}, options), expected)
          << "split at " << i << "," << j;
  }
  std::mt19937 random(1234);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> pieces;
    for (size_t i = 0; i < n;) {
      size_t length = std::uniform_int_distribution<size_t>(0, 7)(random);
      pieces.push_back(output.substr(i, length));
      i += length;
    }
    ASSERT_EQ(parse_pieces(pieces, options), expected) << "random round " << round;
  }
}

TEST(ChatOutputParser, PlainContent) {
  expect_split_invariant("Paris is the capital of France.", {"", "Paris is the capital of France.", {}});
  expect_split_invariant("a < b, c<d and x <= y", {"", "a < b, c<d and x <= y", {}});
}

TEST(ChatOutputParser, ThinkingThenAnswer) {
  expect_split_invariant("<|channel>thought\n17 * 23 = 391.<channel|>17 * 23 = 391.<turn|>",
                         {"17 * 23 = 391.", "17 * 23 = 391.", {}});
}

TEST(ChatOutputParser, ThinkingEdgeCases) {
  expect_split_invariant("<|channel>thought<channel|>Hi", {"", "Hi", {}});  // empty thought, no newline
  expect_split_invariant("<|channel>thought\nstill thinking", {"still thinking", "", {}});  // cut off
  expect_split_invariant("<|channel>thoughtful<channel|>x", {"thoughtful", "x", {}});  // no header after all
  expect_split_invariant("<|channel>thought\na<b <|\"|>q<channel|>", {"a<b <|\"|>q", "", {}});
}

TEST(ChatOutputParser, OneToolCall) {
  expect_split_invariant("<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>}<tool_call|><|tool_response>",
                         {"", "", {call("get_weather", R"({"city":"Paris"})")}});
}

TEST(ChatOutputParser, SeveralCallsAfterTextAndThinking) {
  expect_split_invariant(
      "<|channel>thought\nNeed both.<channel|>Checking.<|tool_call>call:get_time{}<tool_call|>"
      "<|tool_call>call:get_weather{city:<|\"|>Oslo<|\"|>,units:<|\"|>metric<|\"|>}<tool_call|><|tool_response>",
      {"Need both.", "Checking.",
       {call("get_time", "{}"), call("get_weather", R"({"city":"Oslo","units":"metric"})")}});
}

TEST(ChatOutputParser, NestedArgumentsBecomeJson) {
  expect_split_invariant(
      "<|tool_call>call:plan{steps:[{name:<|\"|>a<|\"|>,deps:[]},{name:<|\"|>b<|\"|>,deps:[<|\"|>a<|\"|>]}],"
      "limits:{max:-1.5e3,count:42,exact:true,note:null},empty:{}}<tool_call|>",
      {"", "",
       {call("plan", R"({"steps":[{"name":"a","deps":[]},{"name":"b","deps":["a"]}],
                         "limits":{"max":-1500.0,"count":42,"exact":true,"note":null},"empty":{}})")}});
}

TEST(ChatOutputParser, QuoteTokenStringsKeepEverythingInside) {
  expect_split_invariant(
      "<|tool_call>call:run{code:<|\"|>if (a) { print(\"x, y: z\"); }\n`done` 'ok'<|\"|>,n:1}<tool_call|>",
      {"", "", {call("run", R"({"code":"if (a) { print(\"x, y: z\"); }\n`done` 'ok'","n":1})")}});
}

TEST(ChatOutputParser, CallWithoutOpenerAfterTheThought) {
  expect_split_invariant("<|channel>thought\nuse the tool<channel|>call:get_weather{city:<|\"|>Oslo<|\"|>}",
                         {"use the tool", "", {call("get_weather", R"({"city":"Oslo"})")}});
  expect_split_invariant("call:a{}call:b{x:1}<tool_call|>", {"", "", {call("a", "{}"), call("b", R"({"x":1})")}});
  expect_split_invariant("\n call:f{s:<|\"|>}<|\"|>}", {"", "", {call("f", R"({"s":"}"})")}});
  // Not a call: no brace, or not at the start of the answer, or calls without opener off.
  expect_split_invariant("call: me maybe", {"", "call: me maybe", {}});
  expect_split_invariant("Then call:f{} it", {"", "Then call:f{} it", {}});
  expect_split_invariant("call:f{a:1}", {"", "call:f{a:1}", {}}, {.calls_without_opener = false});
}

TEST(ChatOutputParser, WhitespaceBeforeAMarkerIsDroppedButNotBeforeText) {
  expect_split_invariant("<|channel>thought\nx<channel|>\n\nAnswer", {"x", "\n\nAnswer", {}});
  expect_split_invariant("<|channel>thought\nx<channel|>\n<|tool_call>call:f{}<tool_call|>",
                         {"x", "", {call("f", "{}")}});
}

TEST(ChatOutputParser, LenientValues) {
  expect_split_invariant(
      "<|tool_call>call:f{a:'single',b:\"double \\\"q\\\"\",c:plain text,d:None,e:True,f:3.0,g:-0,h:007,}<tool_call|>",
      {"", "",
       {call("f", R"({"a":"single","b":"double \"q\"","c":"plain text","d":null,"e":true,"f":3.0,"g":0,"h":"007"})")}});
}

TEST(ChatOutputParser, MalformedCallsAreRepairedWhenTheModelClosedThem) {
  // Missing closing brace.
  expect_split_invariant("<|tool_call>call:f{a:<|\"|>x<|\"|><tool_call|>", {"", "", {call("f", R"({"a":"x"})")}});
  // Missing closing quote token before the brace.
  expect_split_invariant("<|tool_call>call:f{a:<|\"|>Paris}<tool_call|>", {"", "", {call("f", R"({"a":"Paris"})")}});
  // One brace too many, and no argument braces at all.
  expect_split_invariant("<|tool_call>call:f{a:1}}<tool_call|>", {"", "", {call("f", R"({"a":1})")}});
  expect_split_invariant("<|tool_call>call:get_time<tool_call|>", {"", "", {call("get_time", "{}")}});
  // The model stopped (<|tool_response>) without <tool_call|>.
  expect_split_invariant("<|tool_call>call:f{a:[1,2<|tool_response>", {"", "", {call("f", R"({"a":[1,2]})")}});
}

TEST(ChatOutputParser, UnreadableCallsComeBackAsContentVerbatim) {
  expect_split_invariant("<|tool_call>this is not a call<tool_call|>", {"", "<|tool_call>this is not a call<tool_call|>", {}});
  expect_split_invariant("Sure.<|tool_call>call:f{a:1} extra words}<tool_call|>",
                         {"", "Sure.<|tool_call>call:f{a:1} extra words}<tool_call|>", {}});
  expect_split_invariant("<|tool_call>call:bad name{}<tool_call|>", {"", "<|tool_call>call:bad name{}<tool_call|>", {}});
}

TEST(ChatOutputParser, TruncatedCallIsContentWhenTheStreamWasCut) {
  const std::string output = "<|tool_call>call:f{a:<|\"|>Par";
  Parsed cut = parse_whole(output, {}, /*truncated=*/true);
  EXPECT_EQ(cut, (Parsed{"", output, {}}));
  // The same text when the model stopped by itself is repaired.
  EXPECT_EQ(parse_whole(output), (Parsed{"", "", {call("f", R"({"a":"Par"})")}}));
  // A complete call needs no repair, cut or not.
  EXPECT_EQ(parse_whole("<|tool_call>call:f{a:1}", {}, true), (Parsed{"", "", {call("f", R"({"a":1})")}}));
}

TEST(ChatOutputParser, EndOfTurnStopsParsing) {
  expect_split_invariant("Hi.<turn|>ignored <|tool_call>call:f{}", {"", "Hi.", {}});
  expect_split_invariant("Hi.<eos>x", {"", "Hi.", {}});
  expect_split_invariant("<|channel>thought\nt<turn|>more", {"t", "", {}});
}

TEST(ChatOutputParser, UnfinishedMarkersAtTheEndAreText) {
  expect_split_invariant("Look: <|chan", {"", "Look: <|chan", {}});
  expect_split_invariant("call:get", {"", "call:get", {}});
  expect_split_invariant("  ", {"", "", {}});
}

TEST(ChatOutputParser, StreamsEachPartAsSoonAsItIsKnown) {
  OutputParser parser;
  EXPECT_EQ(parser.feed("<|channel>thou").thinking, "");
  EXPECT_EQ(parser.feed("ght\nstep one").thinking, "step one");
  EXPECT_EQ(parser.feed(" two<chan").thinking, " two");
  OutputDelta closed = parser.feed("nel|>It is");
  EXPECT_EQ(closed.thinking, "");
  EXPECT_EQ(closed.content, "It is");
  OutputDelta opened = parser.feed(" done.<|tool_call>call:f{x:");
  EXPECT_EQ(opened.content, " done.");
  EXPECT_TRUE(opened.tool_calls.empty());
  OutputDelta completed = parser.feed("1}<tool_call|>");
  ASSERT_EQ(completed.tool_calls.size(), 1u);
  EXPECT_EQ(completed.tool_calls[0], call("f", R"({"x":1})"));
  EXPECT_TRUE(parser.finish().empty());
  EXPECT_TRUE(parser.feed("after the end").empty());
}

// Random mixtures of markers, call syntax and text: the parser must never lose its footing
// (no crash, same result under any split), whatever the model writes.
TEST(ChatOutputParser, RandomOutputsGiveTheSameResultUnderAnySplit) {
  const std::vector<std::string> alphabet = {
      "<|channel>", "thought\n", "<channel|>", "<|tool_call>", "<tool_call|>", "call:", "f", "{", "}", "[", "]",
      ":", ",", "<|\"|>", "\"", "'", "\\", "<", "|", ">", " ", "\n", "x", "1", "<turn|>", "<|tool_response>", "é"};
  std::mt19937 random(42);
  for (int round = 0; round < 300; ++round) {
    std::string output;
    int length = std::uniform_int_distribution<int>(1, 24)(random);
    for (int i = 0; i < length; ++i)
      output += alphabet[std::uniform_int_distribution<size_t>(0, alphabet.size() - 1)(random)];
    Parsed whole = parse_whole(output);
    std::vector<std::string> chars;
    for (char c : output) chars.emplace_back(1, c);
    ASSERT_EQ(parse_pieces(chars), whole) << output;
    for (size_t i = 0; i <= output.size(); ++i)
      ASSERT_EQ(parse_pieces({output.substr(0, i), output.substr(i)}), whole) << output << " split at " << i;
  }
}

}  // namespace
}  // namespace facet::chat
