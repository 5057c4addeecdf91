// The JSON prefix validator behind constrained decoding: which texts are still the start
// of a valid JSON value (and of one that fits a schema). Expected answers are written out
// by hand from RFC 8259 and the schema keywords.
#include <gtest/gtest.h>

#include "server/json_prefix_validator.h"

namespace facet::server {
namespace {

// Whether `text` is accepted as a prefix, and whether it is a complete value.
struct Verdict {
  bool prefix;
  bool complete;
};

Verdict check(const std::string& text, const Json* schema = nullptr) {
  JsonPrefixValidator v(schema, schema);
  const bool prefix = v.feed(text);
  return {prefix, prefix && v.complete()};
}

TEST(JsonPrefixValidator, AcceptsPrefixesOfValidJson) {
  for (const char* text : {"", "{", "{\"a\"", "{\"a\":", "{\"a\": [1, 2.5e-3, ", "[true, fal", "\"caf\xC3\xA9 \\u00e9",
                           "-", "-0.", "{\"k\": null", "[[[]], {}"})
    EXPECT_TRUE(check(text).prefix) << text;
}

TEST(JsonPrefixValidator, RejectsWhatCanNeverBecomeJson) {
  for (const char* text : {"}", "{a", "{\"a\" 1", "[1,]", "01", "-a", "tru e", "\"tab\there\"", "[1 2]", "{\"a\":1,}",
                           "\"\\x\"", "nul1", "1.e5", "{} {}", "```json"})
    EXPECT_FALSE(check(text).prefix) << text;
}

TEST(JsonPrefixValidator, KnowsWhenAValueIsComplete) {
  EXPECT_TRUE(check("{\"a\": [1, {\"b\": \"c\"}]}").complete);
  EXPECT_TRUE(check("  42  ").complete);
  EXPECT_TRUE(check("\"x\"").complete);
  EXPECT_FALSE(check("{\"a\": 1").complete);
  EXPECT_FALSE(check("4.").complete);
  EXPECT_FALSE(check("tru").complete);
}

TEST(JsonPrefixValidator, CapsWhitespaceRuns) {
  EXPECT_TRUE(check("{" + std::string(20, ' ')).prefix);
  EXPECT_FALSE(check("{" + std::string(200, ' ')).prefix);
  EXPECT_TRUE(check("{\"a\": \"" + std::string(200, ' ')).prefix);  // inside a string it is text
}

TEST(JsonPrefixValidator, SchemaTypesDecideTheFirstCharacter) {
  const Json object = {{"type", "object"}};
  EXPECT_TRUE(check("{", &object).prefix);
  EXPECT_FALSE(check("[", &object).prefix);
  EXPECT_FALSE(check("\"text\"", &object).prefix);
  const Json integer = {{"type", "integer"}};
  EXPECT_TRUE(check("-12", &integer).complete);
  EXPECT_FALSE(check("1.5", &integer).prefix);
  EXPECT_FALSE(check("1e3", &integer).prefix);
  const Json nullable = {{"type", Json::array({"string", "null"})}};
  EXPECT_TRUE(check("null", &nullable).complete);
  EXPECT_TRUE(check("\"s\"", &nullable).complete);
  EXPECT_FALSE(check("1", &nullable).prefix);
}

TEST(JsonPrefixValidator, ObjectKeysComeFromPropertiesAndRequiredKeysMustAppear) {
  const Json schema = Json::parse(R"({"type":"object","properties":{"name":{"type":"string"},
      "age":{"type":"integer"}},"required":["name","age"]})");
  EXPECT_TRUE(check(R"({"name": "Ann", "age": 7})", &schema).complete);
  EXPECT_TRUE(check(R"({"age":7,"name":"Ann"})", &schema).complete);  // any order
  EXPECT_FALSE(check(R"({"nick")", &schema).prefix);                 // not a property
  EXPECT_TRUE(check(R"({"na)", &schema).prefix);
  EXPECT_FALSE(check(R"({"name": "Ann"})", &schema).prefix);          // age is required
  EXPECT_FALSE(check(R"({"name": 3)", &schema).prefix);               // wrong type
  EXPECT_FALSE(check(R"({"age": 1, "age")", &schema).prefix);         // no repeats
  EXPECT_FALSE(check(R"({"name":"A","age":1,)", &schema).prefix);     // nothing left to add
}

TEST(JsonPrefixValidator, AdditionalPropertiesTrueAllowsOtherKeys) {
  const Json schema = Json::parse(R"({"type":"object","properties":{"a":{"type":"integer"}},
      "additionalProperties":true})");
  EXPECT_TRUE(check(R"({"a": 1, "zzz": [true]})", &schema).complete);
  EXPECT_FALSE(check(R"({"a": "x")", &schema).prefix);
}

TEST(JsonPrefixValidator, StringLengthsCountCharacters) {
  const Json schema = Json::parse(R"({"type":"string","minLength":2,"maxLength":3})");
  EXPECT_TRUE(check("\"abc\"", &schema).complete);
  EXPECT_FALSE(check("\"abcd", &schema).prefix);
  EXPECT_FALSE(check("\"a\"", &schema).prefix);                   // shorter than minLength
  EXPECT_TRUE(check("\"a\\nb\"", &schema).complete);              // an escape is one character
  EXPECT_TRUE(check("\"\xC3\xA9\xE2\x82\xAC\"", &schema).complete);  // two code points, five bytes
  EXPECT_FALSE(check("\"\\u00e9\\u00e9\\u00e9\\u00e9", &schema).prefix);
}

TEST(JsonPrefixValidator, StringValuesMustBeUtf8) {
  EXPECT_TRUE(check("\"caf\xC3\xA9 \xF0\x9F\x98\x80\"").complete);
  EXPECT_TRUE(check("\"\xE2\x82").prefix);        // a character still arriving
  EXPECT_FALSE(check("\"\x80").prefix);            // a continuation byte out of nowhere
  EXPECT_FALSE(check("\"\xC3\"").prefix);         // a sequence cut short
  EXPECT_FALSE(check("\"\xC0\xAF\"").prefix);     // an overlong lead
}

TEST(JsonPrefixValidator, EnumAndConstMatchTheCompactText) {
  const Json schema = Json::parse(R"({"enum":["red","green",12]})");
  EXPECT_TRUE(check("\"red\"", &schema).complete);
  EXPECT_TRUE(check("12", &schema).complete);
  EXPECT_TRUE(check("\"gr", &schema).prefix);
  EXPECT_FALSE(check("\"blue\"", &schema).prefix);
  EXPECT_FALSE(check("13", &schema).prefix);
  const Json in_object = Json::parse(R"({"type":"object","properties":{"c":{"const":"x"}},"required":["c"]})");
  EXPECT_TRUE(check(R"({"c": "x"})", &in_object).complete);
  EXPECT_FALSE(check(R"({"c": "y)", &in_object).prefix);
}

TEST(JsonPrefixValidator, ArraysFollowItemsAndLengthLimits) {
  const Json schema = Json::parse(R"({"type":"array","items":{"type":"boolean"},"minItems":1,"maxItems":2})");
  EXPECT_TRUE(check("[true, false]", &schema).complete);
  EXPECT_FALSE(check("[]", &schema).prefix);
  EXPECT_FALSE(check("[true, false,", &schema).prefix);
  EXPECT_FALSE(check("[1", &schema).prefix);
}

TEST(JsonPrefixValidator, RefsAndAnyOfAreFollowed) {
  const Json schema = Json::parse(R"({"$defs":{"flag":{"type":"boolean"}},"type":"object",
      "properties":{"f":{"$ref":"#/$defs/flag"},"v":{"anyOf":[{"type":"integer"},{"type":"string"}]}}})");
  EXPECT_TRUE(check(R"({"f": true, "v": 3})", &schema).complete);
  EXPECT_TRUE(check(R"({"v": "s"})", &schema).complete);
  EXPECT_FALSE(check(R"({"f": 1)", &schema).prefix);
  EXPECT_FALSE(check(R"({"v": [)", &schema).prefix);
}

}  // namespace
}  // namespace facet::server
