// The fine-tuning loop on a tiny generated model: HF's learning-rate schedules (formulas
// written out here), gradient accumulation normalised by the window's token count,
// global-norm clipping, and checkpoints: an interrupted run resumed from its checkpoint
// logs exactly the losses of an uninterrupted one; a corrupt checkpoint is a clear error
// and the earlier one still resumes.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>

#include "support/temp_dir.h"
#include "support/train_test_models.h"
#include "train/training_run.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet::train {
namespace {

using namespace test_models;

TEST(TrainSchedule, MatchesTheHuggingFaceFormulas) {
  const double lr0 = 1e-3;
  // warmup 4 of 20 steps.
  EXPECT_DOUBLE_EQ(scheduled_lr(LrScheduler::Linear, lr0, 0, 4, 20), 0.0);
  EXPECT_DOUBLE_EQ(scheduled_lr(LrScheduler::Linear, lr0, 2, 4, 20), lr0 * 0.5);
  EXPECT_DOUBLE_EQ(scheduled_lr(LrScheduler::Linear, lr0, 4, 4, 20), lr0);
  EXPECT_DOUBLE_EQ(scheduled_lr(LrScheduler::Linear, lr0, 12, 4, 20), lr0 * 8.0 / 16.0);
  EXPECT_DOUBLE_EQ(scheduled_lr(LrScheduler::Linear, lr0, 20, 4, 20), 0.0);
  EXPECT_NEAR(scheduled_lr(LrScheduler::Cosine, lr0, 8, 4, 20), lr0 * 0.5 * (1 + std::cos(std::numbers::pi * 0.25)),
              1e-15);
  EXPECT_NEAR(scheduled_lr(LrScheduler::Cosine, lr0, 12, 4, 20), lr0 * 0.5, 1e-15);
  EXPECT_DOUBLE_EQ(scheduled_lr(LrScheduler::Constant, lr0, 1, 4, 20), lr0 * 0.25);
  EXPECT_DOUBLE_EQ(scheduled_lr(LrScheduler::Constant, lr0, 19, 4, 20), lr0);
  EXPECT_DOUBLE_EQ(scheduled_lr(LrScheduler::Constant, lr0, 0, 0, 20), lr0);
}

// Random sequences of different lengths with a few masked labels.
std::vector<SftExample> random_examples(int count, int vocab, uint32_t seed) {
  std::vector<SftExample> out;
  std::mt19937 rng(seed);
  for (int i = 0; i < count; ++i) {
    SftExample ex;
    ex.tokens = random_tokens(6 + static_cast<int>(rng() % 10), vocab, seed * 100 + static_cast<uint32_t>(i));
    ex.trained.assign(ex.tokens.size(), 1);
    ex.trained[0] = 0;
    ex.trained[1] = 0;  // a "prompt" token
    ex.line = i + 1;
    out.push_back(std::move(ex));
  }
  return out;
}

TEST(TrainLoop, AccumulationIsNormalisedByTheWindowsTokenCount) {
  auto built = build({"tiny_e", "tiny-e", nullptr});
  const Model& model = *built->model;
  ThreadPool pool(2);
  LoraModel lora = make_lora(model, LoraConfig{}, 3);
  for (auto& [p, g] : lora.parameters())  // B != 0, so A's gradient is not zero either
    for (size_t i = 0; i < p->size(); ++i)
      if ((*p)[i] == 0.0f) (*p)[i] = 0.01f * std::sin(static_cast<float>(i));
  const LoraModel start = lora;
  auto data = random_examples(4, model.config.vocab_size, 1);

  // Reference: per-example sums (scale 1) added up, divided by all target tokens.
  LoraModel ref = start;
  ref.zero_grad();
  double loss_sum = 0;
  int64_t tokens = 0;
  for (const SftExample& ex : data) {
    PassOptions pass;
    pass.grad_scale = 1.0;
    loss_sum += training_gradients(model, ref, ex.tokens, ex.targets(), pass, pool).loss_sum;
    tokens += ex.n_targets();
  }

  TrainerOptions options;
  options.batch_size = 2;
  options.grad_accum = 2;  // the window is all 4 examples
  options.max_steps = 1;
  options.max_grad_norm = 0;
  Trainer trainer(model, lora, options, pool);
  trainer.set_data(data, {});
  const StepRecord rec = trainer.train_step();
  EXPECT_EQ(rec.target_tokens, tokens);
  EXPECT_NEAR(rec.loss, loss_sum / static_cast<double>(tokens), 1e-6 * rec.loss);
  auto got = lora.parameters(), want = ref.parameters();
  double worst = 0, scale = 0;
  for (size_t k = 0; k < got.size(); ++k)
    for (size_t i = 0; i < got[k].second->size(); ++i) {
      const double w = (*want[k].second)[i] / static_cast<double>(tokens);
      worst = std::max(worst, std::abs((*got[k].second)[i] - w));
      scale = std::max(scale, std::abs(w));
    }
  EXPECT_GT(scale, 0);
  EXPECT_LE(worst, 1e-5 * scale);
  EXPECT_NE(lora.layers[0].get(LoraTarget::Q)->b, start.layers[0].get(LoraTarget::Q)->b);  // it stepped
}

TEST(TrainLoop, ClipsTheGlobalNorm) {
  auto built = build({"tiny_e", "tiny-e", nullptr});
  ThreadPool pool(2);
  LoraModel lora = make_lora(*built->model, LoraConfig{}, 3);
  TrainerOptions options;
  options.max_grad_norm = 1e-3;  // far below the first step's norm
  options.grad_accum = 1;
  Trainer trainer(*built->model, lora, options, pool);
  trainer.set_data(random_examples(3, built->model->config.vocab_size, 2), {});
  const StepRecord rec = trainer.train_step();
  EXPECT_GT(rec.grad_norm, 1e-2);
  double sq = 0;
  for (auto& [p, g] : lora.parameters())
    for (float v : *g) sq += static_cast<double>(v) * v;
  EXPECT_NEAR(std::sqrt(sq), 1e-3, 1e-6);
}

// The training log without the timing fields, one string per line.
std::vector<std::string> log_lines(const std::string& dir) {
  std::ifstream in(dir + "/training_log.jsonl");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    chat::Json j = chat::Json::parse(line);
    j.erase("tokens_per_s");
    out.push_back(j.dump());
  }
  return out;
}

struct RunSetup {
  std::unique_ptr<BuiltModel> built = build({"tiny_e", "tiny-e", nullptr});
  std::vector<SftExample> data = random_examples(5, built->model->config.vocab_size, 3);
  std::vector<SftExample> eval = random_examples(2, built->model->config.vocab_size, 4);
  TrainerOptions options = [] {
    TrainerOptions o;
    o.lr = 5e-3;
    o.max_steps = 6;
    o.grad_accum = 2;
    o.warmup_steps = 2;
    o.scheduler = LrScheduler::Cosine;
    o.weight_decay = 0.01;
    o.max_grad_norm = 0.5;
    return o;
  }();
  LoraConfig lora_config = [] {
    LoraConfig c;
    c.dropout = 0.1;  // dropout masks must be replayed exactly too
    return c;
  }();
};

TEST(TrainLoop, ResumedRunRepeatsTheUninterruptedOneExactly) {
  RunSetup s;
  ThreadPool pool(2);
  test::TempDir whole_dir, split_dir;
  {
    LoraModel lora = make_lora(*s.built->model, s.lora_config, 42);
    Trainer trainer(*s.built->model, lora, s.options, pool);
    trainer.set_data(s.data, s.eval);
    run_training(trainer, {.output_dir = whole_dir.path(), .eval_steps = 2, .progress = nullptr});
  }
  {
    LoraModel lora = make_lora(*s.built->model, s.lora_config, 42);
    Trainer trainer(*s.built->model, lora, s.options, pool);
    trainer.set_data(s.data, s.eval);
    // Interrupted after step 4 with a checkpoint at 3: step 4 is in the log but lost.
    run_training(trainer, {.output_dir = split_dir.path(), .save_steps = 3, .eval_steps = 2,
                           .progress = nullptr, .stop_after = 4});
  }
  EXPECT_EQ(log_lines(split_dir.path()).size(), 4u + 2u);  // 4 steps + 2 evals
  {
    LoraModel lora = make_lora(*s.built->model, s.lora_config, 7);  // another init: overwritten
    Trainer trainer(*s.built->model, lora, s.options, pool);
    trainer.set_data(s.data, s.eval);
    const std::string from = resume_training(trainer, {.output_dir = split_dir.path()});
    EXPECT_EQ(std::filesystem::path(from).filename(), "checkpoint-3");
    EXPECT_EQ(trainer.step(), 3);
    run_training(trainer, {.output_dir = split_dir.path(), .eval_steps = 2, .progress = nullptr});
  }
  const auto whole = log_lines(whole_dir.path()), split = log_lines(split_dir.path());
  ASSERT_EQ(whole.size(), 6u + 3u);
  EXPECT_EQ(split, whole);
  EXPECT_TRUE(std::filesystem::exists(split_dir.file("checkpoint-6/trainer_state.bin")));
}

TEST(TrainLoop, CorruptCheckpointIsAClearErrorAndTheEarlierOneStillWorks) {
  RunSetup s;
  ThreadPool pool(2);
  test::TempDir dir;
  s.options.max_steps = 4;
  {
    LoraModel lora = make_lora(*s.built->model, s.lora_config, 42);
    Trainer trainer(*s.built->model, lora, s.options, pool);
    trainer.set_data(s.data, {});
    run_training(trainer, {.output_dir = dir.path(), .save_steps = 2, .progress = nullptr});
  }
  const std::string newest = dir.file("checkpoint-4/trainer_state.bin");
  auto bytes = test::read_bytes(newest);
  bytes[bytes.size() / 2] ^= 0x40;
  test::write_bytes(newest, bytes);

  LoraModel lora = make_lora(*s.built->model, s.lora_config, 42);
  Trainer trainer(*s.built->model, lora, s.options, pool);
  trainer.set_data(s.data, {});
  try {
    resume_training(trainer, {.output_dir = dir.path()});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("checkpoint-4"), std::string::npos) << e.what();
  }
  // A truncated file is also caught.
  bytes.resize(bytes.size() - 9);
  test::write_bytes(newest, bytes);
  EXPECT_THROW(read_checkpoint(dir.file("checkpoint-4")), Error);

  resume_training(trainer, {.output_dir = dir.path()}, dir.file("checkpoint-2"));
  EXPECT_EQ(trainer.step(), 2);

  // A checkpoint of another run (other data) is refused.
  LoraModel other_lora = make_lora(*s.built->model, s.lora_config, 42);
  Trainer other(*s.built->model, other_lora, s.options, pool);
  other.set_data(random_examples(5, s.built->model->config.vocab_size, 9), {});
  EXPECT_THROW(resume_training(other, {.output_dir = dir.path()}, dir.file("checkpoint-2")), Error);
}

}  // namespace
}  // namespace facet::train
