// The tool-call prefix validator behind tool_choice enforcement: which outputs are still
// the start of one well-formed Gemma 4 call (chat spec 2.3: `<|tool_call>call:NAME{k:v}
// <tool_call|>`, bare keys, strings in <|"|>) whose arguments fit the function's schema.
// Expected verdicts are written out by hand from the spec and the schema keywords.
#include <gtest/gtest.h>

#include "server/tool_call_validator.h"

namespace facet::server {
namespace {

using Special = ToolCallPrefixValidator::Special;

const std::vector<ToolFunction>& functions() {
  static const std::vector<ToolFunction> fs = {
      {"get_weather", Json::parse(R"({"type":"object","properties":{"city":{"type":"string"},
          "unit":{"enum":["celsius","fahrenheit"]},"days":{"type":"integer"}},"required":["city"]})")},
      {"set_flags", Json::parse(R"({"type":"object","properties":{"on":{"type":"boolean"},
          "tags":{"type":"array","items":{"type":"string"}},
          "where":{"type":"object","properties":{"lat":{"type":"number"}},"required":["lat"]},
          "note":{"type":["string","null"]}}})")},
      {"get_time", Json::parse(R"({"type":"object","properties":{},"additionalProperties":false})")},
  };
  return fs;
}

struct Verdict {
  bool prefix;
  bool complete;
};

// Feeds `script`, where the three marker texts stand for their special tokens.
Verdict check(std::string_view script, const std::vector<ToolFunction>& fs = functions()) {
  ToolCallPrefixValidator v(&fs);
  const std::pair<std::string_view, Special> markers[] = {
      {"<|tool_call>", Special::CallOpen}, {"<tool_call|>", Special::CallClose}, {"<|\"|>", Special::Quote}};
  bool ok = true;
  while (ok && !script.empty()) {
    size_t next = script.size();
    const std::pair<std::string_view, Special>* found = nullptr;
    for (const auto& m : markers) {
      const size_t at = script.find(m.first);
      if (at < next) {
        next = at;
        found = &m;
      }
    }
    ok = v.feed(script.substr(0, next));
    script.remove_prefix(next);
    if (ok && found) {
      ok = v.feed_special(found->second);
      script.remove_prefix(found->first.size());
    }
  }
  return {ok, ok && v.complete()};
}

TEST(ToolCallPrefixValidator, AcceptsWholeCallsInGemmaSyntax) {
  for (const char* call : {
           R"(<|tool_call>call:get_weather{city:<|"|>Paris<|"|>}<tool_call|>)",
           R"(<|tool_call>call:get_weather{city:<|"|>Paris<|"|>,unit:<|"|>celsius<|"|>,days:3}<tool_call|>)",
           R"(<|tool_call>call:get_weather{days:-2,city:<|"|>Say "hi" \ back
twice<|"|>}<tool_call|>)",
           R"(<|tool_call>call:set_flags{on:true,tags:[<|"|>a<|"|>,<|"|>b<|"|>],where:{lat:-1.5e3},note:null}<tool_call|>)",
           R"(<|tool_call>call:set_flags{}<tool_call|>)",
           R"(<|tool_call>call:set_flags{tags:[],note:<|"|><|"|>}<tool_call|>)",
           R"(<|tool_call>call:get_time{}<tool_call|>)",
           "<|tool_call>call:get_weather{city:<|\"|>caf\xC3\xA9\t<|\"|>}<tool_call|>",
       }) {
    const Verdict v = check(call);
    EXPECT_TRUE(v.prefix) << call;
    EXPECT_TRUE(v.complete) << call;
  }
}

TEST(ToolCallPrefixValidator, AcceptsPrefixesButNotAsComplete) {
  for (const char* text : {"", "<|tool_call>", "<|tool_call>ca", "<|tool_call>call:", "<|tool_call>call:get_",
                           "<|tool_call>call:get_weather{", "<|tool_call>call:get_weather{ci",
                           R"(<|tool_call>call:get_weather{city:<|"|>Par)",
                           R"(<|tool_call>call:get_weather{city:<|"|>Paris<|"|>,unit:<|"|>fahr)",
                           R"(<|tool_call>call:set_flags{where:{lat:1)",
                           R"(<|tool_call>call:get_weather{city:<|"|>Paris<|"|>})"}) {
    const Verdict v = check(text);
    EXPECT_TRUE(v.prefix) << text;
    EXPECT_FALSE(v.complete) << text;
  }
}

TEST(ToolCallPrefixValidator, RejectsWhatIsNotOneCallToAnOfferedFunction) {
  for (const char* text : {
           "Sure, ",                                               // prose instead of a call
           "call:get_weather{",                                    // no <|tool_call> token
           "<|tool_call>cal:",                                     // wrong prefix
           "<|tool_call>call:get_wind",                            // not an offered name
           "<|tool_call>call:get_weatherx{",                       // longer than the name
           "<|tool_call>call:get_weather(",                        // not Gemma's brace
           "<|tool_call>call:get_weather{}",                       // required "city" missing
           "<|tool_call>call:get_weather{town:",                   // not a property
           "<|tool_call>call:get_weather{ city",                   // no whitespace in the canonical form
           R"(<|tool_call>call:get_weather{city:"Paris")",         // strings use <|"|>
           R"(<|tool_call>call:get_weather{city:Paris)",           // unquoted text
           R"(<|tool_call>call:get_weather{city:42)",              // number for a string
           R"(<|tool_call>call:get_weather{<|"|>city<|"|>:)",       // keys are bare
           R"(<|tool_call>call:get_weather{days:3.5)",              // integer
           R"(<|tool_call>call:get_weather{unit:<|"|>kelvin)",     // enum
           R"(<|tool_call>call:get_weather{city:<|"|>a<|"|>,})",    // trailing comma
           R"(<|tool_call>call:get_weather{city:<|"|>a<|"|>,city:)",  // repeated key
           R"(<|tool_call>call:get_weather{city:<|"|>a<|b)",        // "<|" would spell a marker
           R"(<|tool_call>call:get_weather{city:<|"|>a|>)",         // so would "|>"
           R"(<|tool_call>call:get_weather{city:<|"|>a<|"|>]<tool_call|>)",  // wrong bracket
           R"(<|tool_call>call:set_flags{on:True)",                 // JSON literals only
           R"(<|tool_call>call:set_flags{where:{})",                // nested required "lat"
           R"(<|tool_call>call:set_flags{tags:[1)",                 // items are strings
           R"(<|tool_call>call:get_time{x:)",                       // no parameters at all
           R"(<|tool_call>call:get_time<tool_call|>)",              // arguments are not optional
           R"(<|tool_call>call:get_time{}<tool_call|> )",           // nothing after the call
           R"(<|tool_call>call:get_time{}<tool_call|><|tool_call>)",  // exactly one call
           R"(<|tool_call>call:get_time{}})",                        // closes only what is open
           "<tool_call|>", "<|\"|>",
       })
    EXPECT_FALSE(check(text).prefix) << text;
}

TEST(ToolCallPrefixValidator, NumbersStayFiniteAndIntegersIntegers) {
  // 15 digits and a 2-digit exponent at most: every accepted number is a finite double,
  // and an integer stays within int64.
  EXPECT_TRUE(check(R"(<|tool_call>call:get_weather{city:<|"|>a<|"|>,days:123456789012345}<tool_call|>)").complete);
  EXPECT_FALSE(check(R"(<|tool_call>call:get_weather{city:<|"|>a<|"|>,days:1234567890123456)").prefix);
  EXPECT_TRUE(check(R"(<|tool_call>call:set_flags{where:{lat:-1.5e-12}}<tool_call|>)").complete);
  EXPECT_FALSE(check(R"(<|tool_call>call:set_flags{where:{lat:1.5e123)").prefix);
  // A new number starts its own count.
  EXPECT_TRUE(check(R"(<|tool_call>call:set_flags{tags:[],where:{lat:12345678901234}}<tool_call|>)").complete);
}

TEST(ToolCallPrefixValidator, OnlyTheNamedFunctionWhenOneIsGiven) {
  const std::vector<ToolFunction> only = {functions()[2]};
  EXPECT_TRUE(check("<|tool_call>call:get_time{}<tool_call|>", only).complete);
  EXPECT_FALSE(check("<|tool_call>call:get_w", only).prefix);
}

TEST(ToolCallPrefixValidator, StringBytesAreCheckedAsTheirJsonSpelling) {
  // Control bytes, quotes and backslashes are escaped for the schema check, so a `const`
  // holding them matches the raw bytes in the call.
  const std::vector<ToolFunction> fs = {
      {"say", Json::parse(R"({"type":"object","properties":{"s":{"const":"a\"b\\c\nd"}},"required":["s"]})")}};
  EXPECT_TRUE(check("<|tool_call>call:say{s:<|\"|>a\"b\\c\nd<|\"|>}<tool_call|>", fs).complete);
  EXPECT_FALSE(check("<|tool_call>call:say{s:<|\"|>a\"b\\c d", fs).prefix);
}

}  // namespace
}  // namespace facet::server
