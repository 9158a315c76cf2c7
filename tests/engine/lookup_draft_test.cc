// Speculative decoding's guessing side (engine/speculative.h): prompt lookup's longest-match and
// most-recent rules, the per-request guess budget, option checks. These decide only how fast a
// request runs; tests/engine/speculative_test.cc shows they cannot change its bits.
#include "engine/speculative.h"

#include <gtest/gtest.h>

#include "model/model_test_util.h"

namespace detinfer {
namespace {

TEST(LookupDraftTest, TheLongestMatchWinsThenTheMostRecentOne) {
  // The last 2 tokens (2 3) occur at 1 and 5; the most recent, at 5, was followed by 7 4 2 3.
  const std::vector<int32_t> two = {1, 2, 3, 9, 5, 2, 3, 7, 4, 2, 3};
  EXPECT_EQ(LookupDraft(two, 1, 4, 3), (std::vector<int32_t>{7, 4, 2}));
  // Here the last 3 tokens (5 2 3) occur at 0: the 3-gram beats the more recent 2-gram at 5.
  const std::vector<int32_t> three = {5, 2, 3, 8, 1, 2, 3, 7, 5, 2, 3};
  EXPECT_EQ(LookupDraft(three, 1, 4, 3), (std::vector<int32_t>{8, 1, 2}));
  EXPECT_EQ(LookupDraft(three, 1, 2, 3), (std::vector<int32_t>{7, 5, 2}));  // 3-grams not tried
  // Guesses stop at k.
  EXPECT_EQ(LookupDraft(three, 1, 4, 1), (std::vector<int32_t>{8}));
}

TEST(LookupDraftTest, ARepeatingStretchGoesOnRepeating) {
  // (1 2) matches at 0; what followed it is 1 2, then the guesses themselves: 1 2 1 2 ...
  EXPECT_EQ(LookupDraft(std::vector<int32_t>{1, 2, 1, 2}, 1, 4, 6),
            (std::vector<int32_t>{1, 2, 1, 2, 1, 2}));
  EXPECT_EQ(LookupDraft(std::vector<int32_t>{7, 7}, 1, 4, 3), (std::vector<int32_t>{7, 7, 7}));
}

TEST(LookupDraftTest, NothingToMatchProposesNothing) {
  EXPECT_TRUE(LookupDraft(std::vector<int32_t>{1, 2, 3, 4}, 1, 4, 4).empty());
  EXPECT_TRUE(LookupDraft(std::vector<int32_t>{1}, 1, 4, 4).empty());
  EXPECT_TRUE(LookupDraft(std::vector<int32_t>{}, 1, 4, 4).empty());
  // Only a 1-gram matches (3 at 2): not with n >= 2, nor with k = 0.
  EXPECT_TRUE(LookupDraft(std::vector<int32_t>{1, 2, 3, 4, 3}, 2, 4, 4).empty());
  EXPECT_EQ(LookupDraft(std::vector<int32_t>{1, 2, 3, 4, 3}, 1, 4, 4), (std::vector<int32_t>{4, 3, 4, 3}));
  EXPECT_TRUE(LookupDraft(std::vector<int32_t>{1, 2, 1, 2}, 1, 4, 0).empty());
}

TEST(GuessBudgetTest, FollowsAcceptanceAndPausesAfterMisses) {
  GuessBudget b(8);
  EXPECT_EQ(b.Next(), 8);
  b.Checked(8, 3);  // some accepted: one more than were
  EXPECT_EQ(b.Next(), 4);
  b.Checked(4, 4);  // all: one more
  EXPECT_EQ(b.Next(), 5);
  b.Checked(5, 0);  // none: half
  EXPECT_EQ(b.Next(), 2);
  b.Checked(2, 0);  // a second miss in a row: a pause of 4 steps
  for (int i = 0; i < GuessBudget::kFirstPause; ++i) {
    EXPECT_EQ(b.Next(), 0) << i;
    b.Skipped();
  }
  EXPECT_EQ(b.Next(), 1);
  b.Checked(1, 0);
  b.Checked(1, 0);  // the next pause is twice as long
  int paused = 0;
  for (; b.Next() == 0; ++paused) b.Skipped();
  EXPECT_EQ(paused, 2 * GuessBudget::kFirstPause);
  b.Checked(1, 1);  // a hit ends the back-off
  b.Checked(2, 0);
  b.Checked(1, 0);
  paused = 0;
  for (; b.Next() == 0; ++paused) b.Skipped();
  EXPECT_EQ(paused, GuessBudget::kFirstPause);
  // Pauses never grow past the longest.
  for (int round = 0; round < 20; ++round) {
    b.Checked(1, 0);
    b.Checked(1, 0);
    paused = 0;
    for (; b.Next() == 0; ++paused) b.Skipped();
    EXPECT_LE(paused, GuessBudget::kLongestPause);
  }
  EXPECT_EQ(paused, GuessBudget::kLongestPause);
}

TEST(SpeculativeOptionsTest, BadOptionsAreRefusedByName) {
  SpeculativeOptions o;
  o.source = DraftSource::kLookup;
  EXPECT_TRUE(ValidateSpeculativeOptions(o).ok());
  o.max_guesses = 0;
  EXPECT_TRUE(testing::FailsWith(ValidateSpeculativeOptions(o), {"k >= 1"}));
  o.max_guesses = 4;
  o.ngram_min = 3;
  o.ngram_max = 2;
  EXPECT_TRUE(testing::FailsWith(ValidateSpeculativeOptions(o), {"n-gram"}));
  o = {};
  o.source = DraftSource::kCustom;
  EXPECT_TRUE(testing::FailsWith(ValidateSpeculativeOptions(o), {"guesser"}));
  EXPECT_EQ(*ParseDraftSource("lookup"), DraftSource::kLookup);
  EXPECT_EQ(*ParseDraftSource("none"), DraftSource::kNone);
  EXPECT_TRUE(testing::FailsWith(ParseDraftSource("ngram").status(), {"'ngram'", "lookup"}));
}

}  // namespace
}  // namespace detinfer
