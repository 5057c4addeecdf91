// Python/Jinja value semantics the renderer relies on; expected values are what CPython
// 3.11 prints (repr, str.strip) for the same inputs.
#include <gtest/gtest.h>

#include "chat/jinja_values.h"

namespace facet::chat::jinja {
namespace {

TEST(ChatJinja, FloatReprMatchesPython) {
  EXPECT_EQ(float_repr(0.0), "0.0");
  EXPECT_EQ(float_repr(-0.0), "-0.0");
  EXPECT_EQ(float_repr(2.5), "2.5");
  EXPECT_EQ(float_repr(100.0), "100.0");
  EXPECT_EQ(float_repr(0.1), "0.1");
  EXPECT_EQ(float_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(float_repr(1e16), "1e+16");
  EXPECT_EQ(float_repr(1.5e16), "1.5e+16");
  EXPECT_EQ(float_repr(0.0001), "0.0001");
  EXPECT_EQ(float_repr(0.00001), "1e-05");
  EXPECT_EQ(float_repr(1.25e-7), "1.25e-07");
  EXPECT_EQ(float_repr(123456789.125), "123456789.125");
  EXPECT_EQ(float_repr(5e-324), "5e-324");
  EXPECT_EQ(float_repr(1.7976931348623157e308), "1.7976931348623157e+308");
  EXPECT_EQ(float_repr(-12.75), "-12.75");
}

TEST(ChatJinja, PrintsValuesAsPython) {
  EXPECT_EQ(print(nullptr), "");
  EXPECT_EQ(print(Json()), "None");
  EXPECT_EQ(print(Json(true)), "True");
  EXPECT_EQ(print(Json(-7)), "-7");
  EXPECT_EQ(print(Json(18446744073709551615ull)), "18446744073709551615");
  EXPECT_EQ(print(Json("text")), "text");
  EXPECT_EQ(print(Json::parse(R"(["string","null"])")), "['string', 'null']");
  EXPECT_EQ(print(Json::parse(R"({"a":[1,2.0,null,false],"it's":"say \"hi\"\n"})")),
            R"({'a': [1, 2.0, None, False], "it's": 'say "hi"\n'})");
}

TEST(ChatJinja, TrimRemovesUnicodeWhitespaceLikeStrStrip) {
  EXPECT_EQ(trim("  a b \n\t"), "a b");
  EXPECT_EQ(trim("\u00a0\u3000\u2003x\u2028\u0085"), "x");
  EXPECT_EQ(trim("\x1f" "x" "\x0b"), "x");
  EXPECT_EQ(trim("\u200bx"), "\u200bx");  // zero-width space is not whitespace in Python
  EXPECT_EQ(trim("   "), "");
  EXPECT_EQ(trim("é "), "é");
  EXPECT_EQ(trim("\xff "), "\xff");  // stray bytes are kept, not crashed on
}

TEST(ChatJinja, DictsortIgnoresCaseAndKeepsTiesInOrder) {
  Json object = Json::parse(R"({"b":1,"a":2,"B":3,"A":4,"_":5,"Z":6})");
  std::string order;
  for (const auto& [key, value] : dictsort(object)) order += key;
  EXPECT_EQ(order, "_aAbBZ");
}

TEST(ChatJinja, TruthinessAndMembers) {
  EXPECT_FALSE(truthy(nullptr));
  EXPECT_FALSE(truthy(Json("")));
  EXPECT_FALSE(truthy(Json::array()));
  EXPECT_FALSE(truthy(Json(0.0)));
  EXPECT_TRUE(truthy(Json(" ")));
  EXPECT_TRUE(truthy(Json::parse("[0]")));
  Json object = Json::parse(R"({"k":1})");
  EXPECT_NE(member(object, "k"), nullptr);
  EXPECT_EQ(member(object, "x"), nullptr);
  EXPECT_EQ(member(Json("str"), "k"), nullptr);
}

}  // namespace
}  // namespace facet::chat::jinja
