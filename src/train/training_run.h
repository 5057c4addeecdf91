// Drives a Trainer to the end of its schedule: the progress line on stderr, the training
// log (output_dir/training_log.jsonl, one JSON object per logged step or eval), periodic
// eval, and checkpoint-N folders every save_steps (plus one at the end), each holding
// trainer_state.bin and the trained weights: the adapter in PEFT layout
// (adapter_config.json + adapter_model.safetensors), or in full training the model as
// model.gguf.
#pragma once

#include <cstdio>
#include <functional>
#include <string>

#include "train/trainer.h"

namespace facet::train {

struct RunOptions {
  std::string output_dir;
  int64_t save_steps = 0;     // 0: only the final checkpoint
  int64_t eval_steps = 0;     // 0: eval at the end only (when there is eval data)
  int64_t logging_steps = 1;
  std::FILE* progress = stderr;  // null: quiet
  int64_t stop_after = 0;     // > 0: return after this step (tests: an interrupted run)
  // Full training: writes the model into a checkpoint folder (default: model.gguf, F32).
  std::function<void(const FullModel& full, const std::string& folder)> save_full_model = {};
};

// Restores the newest checkpoint-N under output_dir (or `from`, when given) into the
// trainer and cuts the training log back to that step. Throws Error when there is none or
// it is corrupt (the error names it; older checkpoints are left as they are).
std::string resume_training(Trainer& trainer, const RunOptions& options, const std::string& from = "");

// Runs the remaining steps. Returns the last eval loss (NaN when there is no eval data).
double run_training(Trainer& trainer, const RunOptions& options);

}  // namespace facet::train
