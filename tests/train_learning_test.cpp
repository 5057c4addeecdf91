// It learns: LoRA SFT on a tiny random model with the real Gemma 4 tokenizer (262144
// tokens; models/configs/tiny-realvocab-learn.json, generated here) on a rule with a
// held-out split. Hidden size 128, not the shared 48-wide real-vocabulary model: with
// frozen random embeddings of width 48, even a perfectly aimed hidden state barely lifts
// one token above the other 262143, so that model cannot show learning in a few steps.
// Eight layers, because each block's output passes a post-norm whose weights are ~0.1
// here: a block adds at most ~1.1 to a residual stream of norm ~11, so it takes many
// blocks before LoRA can turn the last hidden state towards the answer's embedding. Prompts are
// "Code 4 8 2 7 is" and the answer is the colour assigned to the code's last digit
// (0 red, 1 blue, ... 9 white); the held-out codes never occur in training, so only the
// rule, not memorised codes, answers them. Greedy accuracy on the held-out codes goes from
// chance or below (the base model never says a colour) to over 90%.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>

#include "engine/model_files.h"
#include "model/random_model.h"
#include "train/adapter_io.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "train/training_run.h"
#include "util/thread_pool.h"

namespace facet::train {
namespace {

const char* kColors[10] = {"red", "blue", "green", "yellow", "purple", "orange", "pink", "brown", "black", "white"};

struct Task {
  std::string prompt, answer;
};

std::vector<Task> make_codes(std::mt19937& rng, int count, std::set<std::string>& used) {
  std::vector<Task> out;
  while (static_cast<int>(out.size()) < count) {
    std::string digits;
    int last = 0;
    for (int i = 0; i < 4; ++i) {
      last = static_cast<int>(rng() % 10);
      if (i > 0) digits += ' ';
      digits += std::to_string(last);
    }
    if (!used.insert(digits).second) continue;
    out.push_back({"Code " + digits + " is", std::string(" ") + kColors[last]});
  }
  return out;
}

// Greedy decoding (at most 3 tokens, stopping at <eos>) of the answer text.
std::string greedy_answer(const Model& model, const LoraModel* lora, const Tokenizer& tok, const std::string& prompt,
                          ThreadPool& pool) {
  EncodeOptions bos;
  bos.add_bos = true;
  std::vector<int32_t> ids = tok.encode(prompt, bos);
  std::vector<int32_t> generated;
  for (int i = 0; i < 3; ++i) {
    const std::vector<float> logits = training_last_logits(model, lora, ids, pool);
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (next == tok.eos_id()) break;
    generated.push_back(next);
    ids.push_back(next);
  }
  return tok.decode(generated);
}

double accuracy(const Model& model, const LoraModel* lora, const Tokenizer& tok, const std::vector<Task>& tasks,
                ThreadPool& pool) {
  int right = 0;
  for (const Task& t : tasks) right += greedy_answer(model, lora, tok, t.prompt, pool) == t.answer;
  return static_cast<double>(right) / static_cast<double>(tasks.size());
}

TEST(TrainLearns, LastDigitColourRuleReachesHeldOutCodes) {
  test::TempDir dir;
  const std::string model_path = dir.file("model.gguf");
  GeneratorConfig g = load_generator_config(test::source_dir() + "/models/configs/tiny-realvocab-learn.json");
  // The config's tokenizer path is relative to ../shared beside the checkout; use the shared
  // folder the build found, which may be elsewhere (a clone made outside /work).
  g.options.hf_tokenizer_json = test::data_dir() + "/tokenizer/gemma4-tokenizer.json";
  g.options.threads = 2;
  write_random_gguf(g.model, g.options, model_path);
  const Tokenizer tok = load_model_tokenizer(model_path);
  auto model = load_model(model_path);
  ThreadPool pool(2);

  std::mt19937 rng(2026);
  std::set<std::string> used;
  const std::vector<Task> train_tasks = make_codes(rng, 160, used);
  const std::vector<Task> held_out = make_codes(rng, 40, used);
  std::vector<SftExample> train;
  for (const Task& t : train_tasks)
    train.push_back(sft_example_from_json({{"prompt", t.prompt}, {"completion", t.answer}}, tok, DataOptions{}));
  std::vector<SftExample> eval;
  for (const Task& t : held_out)
    eval.push_back(sft_example_from_json({{"prompt", t.prompt}, {"completion", t.answer}}, tok, DataOptions{}));

  LoraConfig lora_config;
  lora_config.rank = 8;
  lora_config.alpha = 16;
  LoraModel lora = make_lora(*model, lora_config, 42);
  const double before = accuracy(*model, nullptr, tok, held_out, pool);

  TrainerOptions options;
  options.lr = 3e-2;
  options.epochs = 4;
  options.batch_size = 1;
  options.grad_accum = 4;
  options.warmup_steps = 5;
  options.scheduler = LrScheduler::Linear;
  Trainer trainer(*model, lora, options, pool);
  trainer.set_data(train, eval);
  test::TempDir out;
  const double eval_loss = run_training(trainer, {.output_dir = out.path(), .eval_steps = 80, .progress = stderr});
  const double after = accuracy(*model, &lora, tok, held_out, pool);
  std::printf("held-out greedy accuracy: %.1f%% before, %.1f%% after (chance 10%%); eval loss %.4f\n",
              100 * before, 100 * after, eval_loss);
  EXPECT_LE(before, 0.2);
  // The rule is learned (chance is 10%). Which one or two held-out codes stay wrong moves with
  // the kernels' last-bit roundings (36 of 40 since training's attention scores and weight
  // gradients changed their summation order, more before), so the bound leaves that room.
  EXPECT_GE(after, 0.85);

  // The adapter written in PEFT layout reads back bit for bit (so it answers the same).
  save_peft_adapter(lora, *model, dir.file("adapter"));
  LoraModel loaded = load_adapter(dir.file("adapter"), *model);
  auto want = lora.parameters(), got = loaded.parameters();
  ASSERT_EQ(got.size(), want.size());
  for (size_t k = 0; k < got.size(); ++k) EXPECT_EQ(*got[k].first, *want[k].first) << "tensor " << k;
}

}  // namespace
}  // namespace facet::train
