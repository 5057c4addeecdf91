// count_reasoning_tokens: the usage field `reasoning_tokens` counts each thought block
// from <|channel> through <channel|>, markers included (ids below are made up: 100 opens,
// 101 closes, as in the Gemma 4 vocabulary, others are ordinary tokens).
#include <gtest/gtest.h>

#include "server/generation_job.h"

namespace facet::server {
namespace {

TEST(ReasoningTokens, CountsThoughtBlocksWithTheirMarkers) {
  // <|channel> thought \n a b <channel|> answer <turn|>: 6 of 8 tokens are the block.
  EXPECT_EQ(count_reasoning_tokens({100, 45518, 107, 7, 8, 101, 9, 106}, 100, 101), 6);
  // No block at all.
  EXPECT_EQ(count_reasoning_tokens({7, 8, 9, 106}, 100, 101), 0);
  // Stopped inside the block (max_tokens): everything from the opener counts.
  EXPECT_EQ(count_reasoning_tokens({5, 100, 45518, 107, 7}, 100, 101), 4);
  // Two blocks (e.g. thinking again after a tool call) add up; text between is not counted.
  EXPECT_EQ(count_reasoning_tokens({100, 7, 101, 9, 100, 8, 101}, 100, 101), 6);
  // A vocabulary without the channel tokens never counts anything.
  EXPECT_EQ(count_reasoning_tokens({100, 7, 101}, std::nullopt, std::nullopt), 0);
}

}  // namespace
}  // namespace facet::server
