// The bundled default model (models/default/facet-brown-8m-f16.gguf, trained by
// scripts/train-default-model.sh): it loads with its own Gemma 4-format tokenizer, it
// prefers English to the same words in a shuffled order (per-token loss measured here from
// its logits), and a chat turn ends at <turn|> in the right format.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>

#include "engine/model_files.h"
#include "support/paths.h"
#include "support/run_command.h"
#include "train/train_model.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

std::string model_path() { return test::source_dir() + "/models/default/facet-brown-8m-f16.gguf"; }

// Sentences written for this test (not from the corpus).
const char* kEnglish =
    "The old man walked down to the river every morning to watch the boats. "
    "When the election was over, the governor thanked the people of the state for their support. "
    "The children played in the street until their mother called them home for supper.";

double mean_loss(const Model& model, const std::vector<int32_t>& ids, ThreadPool& pool) {
  return train::training_loss(model, nullptr, ids, train::next_token_targets(ids), {.training = false}, pool).mean();
}

TEST(DefaultModel, PrefersEnglishToShuffledWords) {
  auto model = load_model(model_path());
  const Tokenizer tok = load_model_tokenizer(model_path());
  EXPECT_EQ(tok.vocab_size(), 8192);
  ThreadPool pool(2);
  EncodeOptions bos;
  bos.add_bos = true;
  const double english = mean_loss(*model, tok.encode(kEnglish, bos), pool);
  std::vector<std::string> words;
  std::istringstream in(kEnglish);
  for (std::string w; in >> w;) words.push_back(w);
  std::mt19937 rng(1);
  double shuffled = 0;
  for (int k = 0; k < 3; ++k) {
    std::shuffle(words.begin(), words.end(), rng);
    std::string text;
    for (const std::string& w : words) text += (text.empty() ? "" : " ") + w;
    shuffled += mean_loss(*model, tok.encode(text, bos), pool) / 3;
  }
  std::printf("  loss per token: English %.3f, same words shuffled %.3f, uniform %.3f\n", english, shuffled,
              std::log(8192.0));
  EXPECT_LT(english, shuffled - 1.0);
  EXPECT_LT(english, std::log(8192.0) - 1.0);
}

TEST(DefaultModel, AnswersAChatTurnAndStops) {
  auto r = test::run_command(test::facet_bin() + " run " + model_path() + " --chat -p \"Hello!\" -n 64");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.find("<|turn>"), std::string::npos) << r.out;  // no new turn started
  auto verbose = test::run_command(test::facet_bin() + " run " + model_path() + " --chat -p \"Hello!\" -n 64 -v");
  EXPECT_NE(verbose.err.find("stop: "), std::string::npos) << verbose.err;
  EXPECT_EQ(verbose.err.find("stop: length"), std::string::npos) << verbose.err;  // ended by <turn|>, not the limit
}

}  // namespace
}  // namespace facet
