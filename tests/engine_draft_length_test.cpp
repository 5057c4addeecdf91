// The draft length policy of speculative decoding (engine/draft_length.h).
#include <gtest/gtest.h>

#include "engine/draft_length.h"
#include "util/error.h"

namespace facet {
namespace {

TEST(DraftLength, StartsShortAndGrowsWhileEveryDraftIsKept) {
  DraftLength length(1, 8);
  EXPECT_DOUBLE_EQ(length.acceptance(), DraftLength::kPriorAcceptance);
  const int first = length.next();
  EXPECT_LE(first, 2);
  int previous = first;
  for (int step = 0; step < 20; ++step) {
    length.record(length.next(), length.next());  // all kept
    EXPECT_GE(length.next(), previous);
    previous = length.next();
  }
  EXPECT_EQ(length.next(), 8);
  EXPECT_GT(length.acceptance(), 0.9);
}

TEST(DraftLength, FallsToTheFloorWhenDraftsAreRejected) {
  DraftLength length(2, 8);
  for (int step = 0; step < 10; ++step) length.record(length.next(), length.next());
  ASSERT_EQ(length.next(), 8);
  for (int step = 0; step < 30; ++step) length.record(length.next(), 0);  // the first draft is wrong every time
  EXPECT_EQ(length.next(), 2);
  EXPECT_LT(length.acceptance(), 0.3);  // the earlier, kept drafts still count a little
}

TEST(DraftLength, SettlesOnTwoOrThreeAtSeventyPercent) {
  // 7 of 10 judged drafts kept, in a fixed, repeating pattern of outcomes. With pass costs
  // 1 + 0.25 k the best fixed lengths at 0.7 are 2 and 3 ((1 - 0.7^(k+1)) / 0.3 / (1 + 0.25 k):
  // 1.36, 1.46, 1.45, 1.39, 1.31 for k = 1..5).
  DraftLength length(1, 8);
  const bool pattern[10] = {true, true, false, true, true, true, false, true, false, true};
  int at = 0;
  for (int step = 0; step < 200; ++step) {
    const int k = length.next();
    int kept = 0;
    while (kept < k && pattern[at % 10]) ++kept, ++at;
    if (kept < k) ++at;  // the rejected one was judged too
    length.record(k, kept);
    if (step >= 50) {
      EXPECT_GE(length.next(), 2) << step;
      EXPECT_LE(length.next(), 3) << step;
    }
  }
  EXPECT_NEAR(length.acceptance(), 0.7, 0.1);
}

TEST(DraftLength, EqualBoundsFixTheLength) {
  DraftLength length(4, 4);
  EXPECT_EQ(length.next(), 4);
  length.record(4, 0);
  EXPECT_EQ(length.next(), 4);
  length.record(4, 4);
  EXPECT_EQ(length.next(), 4);
}

TEST(DraftLength, StepsWithoutDraftsTeachNothing) {
  DraftLength length(1, 8);
  const double before = length.acceptance();
  length.record(0, 0);
  EXPECT_DOUBLE_EQ(length.acceptance(), before);
}

TEST(DraftLength, ABadRangeIsAClearError) {
  EXPECT_THROW(DraftLength(0, 8), Error);
  EXPECT_THROW(DraftLength(5, 4), Error);
}

}  // namespace
}  // namespace facet
