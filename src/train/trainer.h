// The training loop of `facet finetune` (LoRA) and `facet pretrain` (every weight): data order, gradient accumulation normalised by token count,
// global-norm clipping, learning-rate schedules, AdamW, eval loss and checkpoints that
// resume exactly (finetune spec §5.1, §6).
//
// One optimizer step consumes batch_size × grad_accum examples (sequences are not padded
// into a tensor: a micro-batch is just its examples run one after the other). With
// --packing an "example" is a packed sequence (train/packing.h), as in TRL, and the loss
// is still normalised by the target tokens of the whole window. Example
// order: each epoch is a fresh seeded shuffle; position p of the run is example
// order(epoch = p / n)[p % n]. Dropout masks are seeded from (seed, p). So the run after
// step k depends only on the adapter, the optimizer state and k: that is all a checkpoint
// holds, and a resumed run repeats an uninterrupted one bit for bit (same thread count).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/full_model.h"
#include "train/lora.h"
#include "train/optimizer.h"
#include "train/preference.h"

namespace facet::train {

enum class TrainMethod { Sft, Dpo, Orpo };
enum class LrScheduler { Linear, Cosine, Constant };

TrainMethod parse_train_method(const std::string& name);  // sft, dpo, orpo
LrScheduler parse_lr_scheduler(const std::string& name);  // linear, cosine, constant(_with_warmup)
const char* train_method_name(TrainMethod method);
const char* lr_scheduler_name(LrScheduler scheduler);

struct TrainerOptions {
  TrainMethod method = TrainMethod::Sft;
  double lr = 2e-4;
  double epochs = 1;
  int64_t max_steps = -1;  // > 0 overrides epochs
  int batch_size = 1;
  int grad_accum = 4;
  int64_t warmup_steps = 0;  // wins over warmup_ratio when > 0
  double warmup_ratio = 0;
  LrScheduler scheduler = LrScheduler::Linear;
  double weight_decay = 0;
  double max_grad_norm = 1.0;  // 0: no clipping
  double beta = 0.1;           // DPO β / ORPO λ
  uint64_t seed = 42;
};

// HF's schedules (spec §6.3): `step` counts finished optimizer steps (0 for the first).
double scheduled_lr(LrScheduler scheduler, double lr0, int64_t step, int64_t warmup, int64_t total);

struct StepRecord {
  int64_t step = 0;        // 1-based, after the update
  double loss = 0;         // SFT: token-weighted mean NLL of the window; DPO/ORPO: mean pair loss
  double lr = 0;
  double grad_norm = 0;    // before clipping
  int64_t tokens = 0;      // tokens run through the model (prompt included)
  int64_t target_tokens = 0;
  double seconds = 0;
  double reward_accuracy = -1;  // preference methods: fraction of pairs with r_chosen > r_rejected
  double reward_margin = 0;
};

class Trainer {
 public:
  // LoRA: trains the adapter on the frozen model.
  Trainer(const Model& model, LoraModel& lora, TrainerOptions options, ThreadPool& pool);
  // Full-parameter training of every weight (SFT data only).
  Trainer(FullModel& full, TrainerOptions options, ThreadPool& pool);

  void set_data(std::vector<SftExample> train, std::vector<SftExample> eval);
  void set_data(std::vector<PreferenceExample> train, std::vector<PreferenceExample> eval);

  int64_t total_steps() const;
  int64_t warmup_steps() const;
  int64_t step() const { return step_; }
  const Model& model() const { return model_; }
  const LoraModel* lora() const { return lora_; }   // null in full training
  const FullModel* full() const { return full_; }   // null in LoRA training
  bool has_eval() const { return !sft_eval_.empty() || !pref_eval_.empty(); }

  StepRecord train_step();
  double evaluate();  // eval loss (no dropout), same measure as StepRecord::loss

  // The checkpoint of the current state, and restoring one (checks it belongs to this run:
  // same adapter shapes, data, seed and batch settings).
  CheckpointData checkpoint();
  void restore(const CheckpointData& data);

 private:
  Trainer(const Model& model, LoraModel* lora, TrainerOptions options, ThreadPool& pool);
  size_t n_train() const;
  std::vector<size_t> window(int64_t step) const;  // example indices of one optimizer step
  chat::Json run_record() const;
  uint64_t data_fingerprint() const;

  AdamW::Parameters parameters();
  void zero_grad();

  const Model& model_;
  LoraModel* lora_ = nullptr;
  FullModel* full_ = nullptr;
  TrainerOptions options_;
  ThreadPool& pool_;
  AdamW adam_;
  int64_t step_ = 0;
  std::vector<SftExample> sft_train_, sft_eval_;
  std::vector<PreferenceExample> pref_train_, pref_eval_;
  std::vector<ReferenceLogProbs> ref_train_, ref_eval_;
  mutable std::vector<std::vector<size_t>> epoch_orders_;
};

}  // namespace facet::train
