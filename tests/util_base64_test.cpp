// base64_decode against RFC 4648's test vectors and hand-checked edge cases.
#include <gtest/gtest.h>

#include "util/base64.h"

namespace facet {
namespace {

TEST(Base64, DecodesTheRfc4648Vectors) {
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_EQ(base64_decode("Zg=="), "f");
  EXPECT_EQ(base64_decode("Zm8="), "fo");
  EXPECT_EQ(base64_decode("Zm9v"), "foo");
  EXPECT_EQ(base64_decode("Zm9vYg=="), "foob");
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(base64_decode("Zm9vYmFy"), "foobar");
}

TEST(Base64, DecodesEveryByteValue) {
  // 0x00 0xff 0x10 0x83 = 000000 001111 111100 010000 100000 11(0000): "AP8Qgw==".
  EXPECT_EQ(base64_decode("AP8Qgw=="), std::string("\x00\xff\x10\x83", 4));
  // 0xfb 0xff = 111110 111111 1111(00): "+/8=" in the standard alphabet, "-_8" URL-safe.
  EXPECT_EQ(base64_decode("+/8="), std::string("\xfb\xff", 2));
  EXPECT_EQ(base64_decode("-_8"), std::string("\xfb\xff", 2));
}

TEST(Base64, AcceptsMissingPaddingAndLineBreaks) {
  EXPECT_EQ(base64_decode("Zg"), "f");
  EXPECT_EQ(base64_decode("Zm8"), "fo");
  EXPECT_EQ(base64_decode("Zm9v\r\nYmFy\n"), "foobar");
  EXPECT_EQ(base64_decode(" Zm9v YmE= "), "fooba");
}

TEST(Base64, RefusesWhatIsNotBase64) {
  EXPECT_FALSE(base64_decode("Zm9v!"));         // a byte outside the alphabets
  EXPECT_FALSE(base64_decode("Zm9vY"));         // one dangling digit
  EXPECT_FALSE(base64_decode("Zg=a"));          // data after padding
  EXPECT_FALSE(base64_decode("Zg==="));         // three padding signs
  EXPECT_FALSE(base64_decode("Zm8=="));         // padding past the group of four
  EXPECT_FALSE(base64_decode("http://x/a.png"));
  EXPECT_FALSE(base64_decode(std::string("Zm\0v", 4)));
}

}  // namespace
}  // namespace facet
