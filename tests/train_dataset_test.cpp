// Training data: which tokens carry the loss for each TRL row format (checked by decoding
// the trained tokens with the real Gemma 4 tokenizer against hand-written text), bad
// lines with their line numbers, truncation and skipping, preference rows, eval split.
#include <gtest/gtest.h>

#include <fstream>

#include "support/gemma4_tokenizer.h"
#include "support/temp_dir.h"
#include "train/dataset.h"
#include "train/train_model.h"
#include "util/error.h"

namespace facet::train {
namespace {

using chat::Json;

// The text of the tokens that carry the loss, in order.
std::string trained_text(const SftExample& ex) {
  std::vector<int32_t> ids;
  for (size_t t = 0; t < ex.tokens.size(); ++t)
    if (ex.trained[t]) ids.push_back(ex.tokens[t]);
  return test::gemma4_tokenizer().decode(ids);
}

std::string all_text(const std::vector<int32_t>& ids) { return test::gemma4_tokenizer().decode(ids); }

DataOptions small_rules() {
  DataOptions o;
  o.rules = chat::ChatRules::Small;
  return o;
}

TEST(TrainDataset, MessagesTrainOnAssistantContentAndEndOfTurnOnly) {
  const Json row = Json::parse(R"({"messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "Hello there!"},
      {"role": "user", "content": "Name?"},
      {"role": "assistant", "content": "Bob"}]})");
  const SftExample ex = sft_example_from_json(row, test::gemma4_tokenizer(), small_rules());
  EXPECT_EQ(all_text(ex.tokens),
            "<bos><|turn>system\nBe brief.<turn|>\n<|turn>user\nHi<turn|>\n<|turn>model\nHello there!<turn|>\n"
            "<|turn>user\nName?<turn|>\n<|turn>model\nBob<turn|>\n");
  EXPECT_EQ(trained_text(ex), "Hello there!<turn|>Bob<turn|>");
  // targets() shifts by one: the position before "Bob" predicts it.
  const auto targets = ex.targets();
  int64_t n = 0;
  for (size_t t = 0; t < targets.size(); ++t)
    if (targets[t] != kIgnoreTarget) {
      EXPECT_EQ(targets[t], ex.tokens[t + 1]);
      ++n;
    }
  EXPECT_EQ(n, ex.n_targets());

  DataOptions all = small_rules();
  all.train_on_prompt = true;
  const SftExample every = sft_example_from_json(row, test::gemma4_tokenizer(), all);
  EXPECT_EQ(every.n_targets(), static_cast<int64_t>(every.tokens.size()) - 1);
}

TEST(TrainDataset, PromptCompletionTrainsOnTheCompletion) {
  const auto& tok = test::gemma4_tokenizer();
  const SftExample s = sft_example_from_json(Json::parse(R"({"prompt": "Name: Zorbel\n", "completion": "Color: teal"})"),
                                             tok, small_rules());
  EXPECT_EQ(s.tokens.front(), tok.bos_id());
  EXPECT_EQ(s.tokens.back(), tok.eos_id());
  EXPECT_EQ(trained_text(s), "Color: teal<eos>");

  const SftExample m = sft_example_from_json(
      Json::parse(R"({"prompt": [{"role": "user", "content": "Zorbel?"}],
                      "completion": [{"role": "assistant", "content": "teal"}]})"),
      tok, small_rules());
  EXPECT_EQ(all_text(m.tokens), "<bos><|turn>user\nZorbel?<turn|>\n<|turn>model\nteal<turn|>\n");
  EXPECT_EQ(trained_text(m), "teal<turn|>");

  const SftExample t = sft_example_from_json(Json::parse(R"({"text": "plain words"})"), tok, small_rules());
  EXPECT_EQ(all_text(t.tokens), "<bos>plain words<eos>");
  EXPECT_EQ(trained_text(t), "plain words<eos>");  // everything but the first token
}

TEST(TrainDataset, RowsWithoutAKnownFormatAreErrors) {
  const auto& tok = test::gemma4_tokenizer();
  for (const char* bad : {R"({"prompt": "x"})", R"({"foo": 1})", R"({"text": 5})",
                          R"({"messages": []})", R"({"messages": "hi"})",
                          R"({"prompt": [{"role": "user", "content": "a"}], "completion": "b"})"})
    EXPECT_THROW(sft_example_from_json(Json::parse(bad), tok, small_rules()), Error) << bad;
}

std::string write_file(const test::TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir.file(name)) << text;
  return dir.file(name);
}

TEST(TrainDataset, BadLinesAreFatalWithTheirLineNumberOrSkipped) {
  test::TempDir dir;
  const std::string path = write_file(dir, "d.jsonl",
                                      "{\"text\": \"one\"}\n"
                                      "\n"
                                      "{\"text\": \"two\"\n"   // line 3: cut JSON
                                      "[1, 2]\n"              // line 4: not an object
                                      "{\"text\": \"three\"}\r\n");
  DataReport report;
  try {
    load_sft_data(path, test::gemma4_tokenizer(), small_rules(), report);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("d.jsonl:3:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--skip-bad-lines"), std::string::npos) << e.what();
  }
  DataOptions skip = small_rules();
  skip.skip_bad_lines = true;
  DataReport skipped;
  const auto examples = load_sft_data(path, test::gemma4_tokenizer(), skip, skipped);
  ASSERT_EQ(examples.size(), 2u);
  EXPECT_EQ(examples[0].line, 1);
  EXPECT_EQ(examples[1].line, 5);
  EXPECT_EQ(skipped.rows, 4);
  EXPECT_EQ(skipped.bad_lines, 2);
  ASSERT_EQ(skipped.messages.size(), 2u);
  EXPECT_NE(skipped.messages[1].find("d.jsonl:4:"), std::string::npos);
  EXPECT_THROW(load_sft_data(dir.file("missing.jsonl"), test::gemma4_tokenizer(), skip, skipped), Error);
}

TEST(TrainDataset, LongSequencesAreTruncatedOrSkippedAndCounted) {
  test::TempDir dir;
  // "a a a ..." is one token per " a"; 40 words is far over 16 tokens.
  std::string words;
  for (int i = 0; i < 40; ++i) words += " a";
  const std::string path = write_file(dir, "d.jsonl",
                                      "{\"text\": \"short\"}\n{\"text\": \"" + words + "\"}\n"
                                      "{\"prompt\": \"" + words + "\", \"completion\": \"x\"}\n");
  DataOptions o = small_rules();
  o.max_seq_len = 16;
  DataReport truncated;
  auto kept = load_sft_data(path, test::gemma4_tokenizer(), o, truncated);
  // The third row's completion is cut off entirely: nothing left to train on.
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[1].tokens.size(), 16u);
  EXPECT_EQ(truncated.truncated, 2);
  EXPECT_EQ(truncated.no_targets, 1);

  o.too_long = TooLong::Skip;
  DataReport skipped;
  kept = load_sft_data(path, test::gemma4_tokenizer(), o, skipped);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(skipped.skipped_long, 2);
}

TEST(TrainDataset, PreferenceRows) {
  const auto& tok = test::gemma4_tokenizer();
  const PreferenceExample s = preference_example_from_json(
      Json::parse(R"({"prompt": "Q: sky?", "chosen": " blue", "rejected": " green"})"), tok, small_rules());
  EXPECT_EQ(all_text(s.prompt), "<bos>Q: sky?");
  EXPECT_EQ(all_text(s.chosen), " blue<eos>");
  EXPECT_EQ(all_text(s.rejected), " green<eos>");

  const PreferenceExample m = preference_example_from_json(
      Json::parse(R"({"prompt": [{"role": "user", "content": "Sky?"}],
                      "chosen": [{"role": "assistant", "content": "Blue."}],
                      "rejected": [{"role": "assistant", "content": "Green."}]})"),
      tok, small_rules());
  EXPECT_EQ(all_text(m.prompt), "<bos><|turn>user\nSky?<turn|>\n<|turn>model\n");
  EXPECT_EQ(all_text(m.chosen), "Blue.<turn|>");
  EXPECT_EQ(all_text(m.rejected), "Green.<turn|>");
  EXPECT_THROW(preference_example_from_json(Json::parse(R"({"prompt": "a", "chosen": "b"})"), tok, small_rules()),
               Error);
}

TEST(TrainDataset, EvalSplitIsSeededAndDisjoint) {
  std::vector<SftExample> all(20);
  for (int i = 0; i < 20; ++i) all[static_cast<size_t>(i)].line = i + 1;
  auto train_a = all, train_b = all;
  const auto eval_a = split_off_eval(train_a, 0.1, 7);
  const auto eval_b = split_off_eval(train_b, 0.1, 7);
  ASSERT_EQ(eval_a.size(), 2u);
  EXPECT_EQ(train_a.size(), 18u);
  for (size_t i = 0; i < eval_a.size(); ++i) EXPECT_EQ(eval_a[i].line, eval_b[i].line);
  for (const auto& e : eval_a)
    for (const auto& t : train_a) EXPECT_NE(e.line, t.line);
  EXPECT_THROW(split_off_eval(train_a, 1.5, 7), Error);
}

}  // namespace
}  // namespace facet::train
