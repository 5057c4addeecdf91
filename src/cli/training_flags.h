// The flags `facet finetune` and `facet pretrain` share, named as in TRL / HF Trainer /
// Unsloth: the optimizer and schedule, and the run's checkpoint, eval and log cadence.
#pragma once

#include <cstdint>
#include <string>

#include "train/trainer.h"
#include "train/training_run.h"

namespace CLI {
class App;
}

namespace facet::cli {

struct RunFlags {
  int64_t save_steps = 0, eval_steps = 0, logging_steps = 1;
  bool resume = false;
  std::string resume_from;
  int threads = 0;
  std::string lr_scheduler = "linear";
};

// --lr, --epochs, --max-steps, --batch-size, --grad-accum, --warmup-steps, --warmup-ratio,
// --lr-scheduler, --weight-decay, --max-grad-norm, --seed (help shows the defaults given).
void add_optimizer_flags(CLI::App* cmd, train::TrainerOptions& train, RunFlags& run);
// --save-steps, --eval-steps, --logging-steps, --resume, --resume-from, --threads.
void add_run_flags(CLI::App* cmd, RunFlags& run);

// RunOptions for `output_dir` from the flags; resumes (and says so on stderr) when asked,
// else starts a fresh training log.
train::RunOptions start_run(train::Trainer& trainer, const RunFlags& flags, const std::string& output_dir);

}  // namespace facet::cli
