// The optimizer-step loop of `facet finetune`.
#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>
#include <random>

#include "train/train_model.h"
#include "util/error.h"

namespace facet::train {
namespace {

uint64_t mix64(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void hash_ids(uint64_t& h, const std::vector<int32_t>& ids) {
  h = mix64(h ^ ids.size());
  for (int32_t id : ids) h = mix64(h ^ static_cast<uint32_t>(id));
}

}  // namespace

TrainMethod parse_train_method(const std::string& name) {
  if (name == "sft") return TrainMethod::Sft;
  if (name == "dpo") return TrainMethod::Dpo;
  if (name == "orpo") return TrainMethod::Orpo;
  fail("unknown --method '", name, "' (expected sft, dpo or orpo)");
}

LrScheduler parse_lr_scheduler(const std::string& name) {
  if (name == "linear") return LrScheduler::Linear;
  if (name == "cosine") return LrScheduler::Cosine;
  if (name == "constant" || name == "constant_with_warmup") return LrScheduler::Constant;
  fail("unknown --lr-scheduler '", name, "' (expected linear, cosine or constant)");
}

const char* train_method_name(TrainMethod method) {
  switch (method) {
    case TrainMethod::Sft: return "sft";
    case TrainMethod::Dpo: return "dpo";
    case TrainMethod::Orpo: return "orpo";
  }
  return "sft";
}

const char* lr_scheduler_name(LrScheduler scheduler) {
  switch (scheduler) {
    case LrScheduler::Linear: return "linear";
    case LrScheduler::Cosine: return "cosine";
    case LrScheduler::Constant: return "constant";
  }
  return "linear";
}

double scheduled_lr(LrScheduler scheduler, double lr0, int64_t step, int64_t warmup, int64_t total) {
  if (step < warmup) return lr0 * static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  const double span = static_cast<double>(std::max<int64_t>(1, total - warmup));
  switch (scheduler) {
    case LrScheduler::Constant: return lr0;
    case LrScheduler::Linear: return lr0 * std::max(0.0, static_cast<double>(total - step) / span);
    case LrScheduler::Cosine: {
      const double progress = static_cast<double>(step - warmup) / span;
      return lr0 * std::max(0.0, 0.5 * (1.0 + std::cos(std::numbers::pi * progress)));
    }
  }
  return lr0;
}

Trainer::Trainer(FullModel& full, TrainerOptions options, ThreadPool& pool) : Trainer(full.model(), nullptr, options, pool) {
  full_ = &full;
  require(options_.method == TrainMethod::Sft, "full-parameter training takes SFT/text data only (not --method ",
          train_method_name(options_.method), ")");
}

Trainer::Trainer(const Model& model, LoraModel& lora, TrainerOptions options, ThreadPool& pool)
    : Trainer(model, &lora, options, pool) {}

Trainer::Trainer(const Model& model, LoraModel* lora, TrainerOptions options, ThreadPool& pool)
    : model_(model), lora_(lora), options_(options), pool_(pool), adam_(AdamWOptions{}) {
  require(options_.batch_size >= 1, "--batch-size must be at least 1");
  require(options_.grad_accum >= 1, "--grad-accum must be at least 1");
  require(options_.lr >= 0 && std::isfinite(options_.lr), "--lr must be a non-negative number");
  require(options_.max_steps > 0 || options_.epochs > 0, "give --epochs > 0 or --max-steps > 0");
  require(options_.warmup_ratio >= 0 && options_.warmup_ratio < 1, "--warmup-ratio must be in [0, 1)");
  require(options_.max_grad_norm >= 0, "--max-grad-norm must be >= 0");
  require(options_.beta > 0, "--beta must be positive");
  AdamWOptions adam;
  adam.lr = options_.lr;
  adam.weight_decay = options_.weight_decay;
  adam_ = AdamW(adam);
}

void Trainer::set_data(std::vector<SftExample> train, std::vector<SftExample> eval) {
  require(options_.method == TrainMethod::Sft, "--method ", train_method_name(options_.method),
          " needs prompt/chosen/rejected rows");
  require(!train.empty(), "no training examples");
  sft_train_ = std::move(train);
  sft_eval_ = std::move(eval);
}

void Trainer::set_data(std::vector<PreferenceExample> train, std::vector<PreferenceExample> eval) {
  require(options_.method != TrainMethod::Sft, "preference pairs need --method dpo or orpo");
  require(!train.empty(), "no training examples");
  pref_train_ = std::move(train);
  pref_eval_ = std::move(eval);
  if (options_.method == TrainMethod::Dpo) {  // the adapter-off reference, once per pair
    for (const auto& p : pref_train_) ref_train_.push_back(reference_logprobs(model_, p, pool_));
    for (const auto& p : pref_eval_) ref_eval_.push_back(reference_logprobs(model_, p, pool_));
  } else {
    ref_train_.resize(pref_train_.size());
    ref_eval_.resize(pref_eval_.size());
  }
}

size_t Trainer::n_train() const { return options_.method == TrainMethod::Sft ? sft_train_.size() : pref_train_.size(); }

int64_t Trainer::total_steps() const {
  if (options_.max_steps > 0) return options_.max_steps;
  const double per_step = static_cast<double>(options_.batch_size) * options_.grad_accum;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(options_.epochs * static_cast<double>(n_train()) / per_step)));
}

int64_t Trainer::warmup_steps() const {
  if (options_.warmup_steps > 0) return options_.warmup_steps;
  return static_cast<int64_t>(std::ceil(options_.warmup_ratio * static_cast<double>(total_steps())));
}

std::vector<size_t> Trainer::window(int64_t step) const {
  const size_t n = n_train();
  require(n > 0, "no training data");
  const int64_t per_step = static_cast<int64_t>(options_.batch_size) * options_.grad_accum;
  std::vector<size_t> out;
  for (int64_t p = step * per_step; p < (step + 1) * per_step; ++p) {
    const size_t epoch = static_cast<size_t>(p) / n;
    while (epoch_orders_.size() <= epoch) {
      std::vector<size_t> order(n);
      for (size_t i = 0; i < n; ++i) order[i] = i;
      std::mt19937_64 rng(mix64(options_.seed ^ mix64(epoch_orders_.size() + 1)));
      std::shuffle(order.begin(), order.end(), rng);
      epoch_orders_.push_back(std::move(order));
    }
    out.push_back(epoch_orders_[epoch][static_cast<size_t>(p) % n]);
  }
  return out;
}

StepRecord Trainer::train_step() {
  const auto start = std::chrono::steady_clock::now();
  StepRecord rec;
  rec.lr = scheduled_lr(options_.scheduler, options_.lr, step_, warmup_steps(), total_steps());
  const std::vector<size_t> examples = window(step_);
  const int64_t first_position = step_ * static_cast<int64_t>(examples.size());
  zero_grad();
  auto pass_at = [&](size_t k) {
    PassOptions pass;
    pass.training = true;
    pass.dropout_seed = mix64(options_.seed ^ mix64(static_cast<uint64_t>(first_position) + k));
    return pass;
  };
  if (options_.method == TrainMethod::Sft) {
    // Normalise by the target tokens of the whole window (not per micro-batch), so
    // accumulation over k micro-batches equals one batch k times as large.
    for (size_t i : examples) rec.target_tokens += sft_train_[i].n_targets();
    double loss_sum = 0;
    for (size_t k = 0; k < examples.size(); ++k) {
      const SftExample& ex = sft_train_[examples[k]];
      PassOptions pass = pass_at(k);
      pass.grad_scale = 1.0 / static_cast<double>(rec.target_tokens);
      pass.segments = ex.segments;  // packed: each example attends only to itself
      loss_sum += (full_ ? full_training_gradients(*full_, ex.tokens, ex.targets(), pass, pool_)
                         : training_gradients(model_, *lora_, ex.tokens, ex.targets(), pass, pool_))
                      .loss_sum;
      rec.tokens += static_cast<int64_t>(ex.tokens.size());
    }
    rec.loss = loss_sum / static_cast<double>(rec.target_tokens);
  } else {
    PreferenceOptions pref;
    pref.loss = options_.method == TrainMethod::Dpo ? PreferenceLoss::Dpo : PreferenceLoss::Orpo;
    pref.beta = options_.beta;
    const double weight = 1.0 / static_cast<double>(examples.size());
    int wins = 0;
    for (size_t k = 0; k < examples.size(); ++k) {
      const PreferenceExample& ex = pref_train_[examples[k]];
      const PairResult r = preference_gradients(model_, *lora_, ex, ref_train_[examples[k]], pref, weight, pass_at(k), pool_);
      rec.loss += r.loss * weight;
      rec.reward_margin += (r.chosen_reward - r.rejected_reward) * weight;
      wins += r.chosen_reward > r.rejected_reward;
      rec.tokens += static_cast<int64_t>(2 * ex.prompt.size() + ex.chosen.size() + ex.rejected.size());
      rec.target_tokens += static_cast<int64_t>(ex.chosen.size() + ex.rejected.size());
    }
    rec.reward_accuracy = static_cast<double>(wins) / static_cast<double>(examples.size());
  }
  // Global-norm clipping after the whole window, before the update (spec §6.2).
  auto params = parameters();
  double sq = 0;
  for (auto& [p, g] : params)
    for (float v : *g) sq += static_cast<double>(v) * v;
  rec.grad_norm = std::sqrt(sq);
  require(std::isfinite(rec.grad_norm) && std::isfinite(rec.loss), "the loss or gradient became NaN/inf at step ",
          step_ + 1, " (try a lower --lr)");
  if (options_.max_grad_norm > 0 && rec.grad_norm > options_.max_grad_norm) {
    const float factor = static_cast<float>(options_.max_grad_norm / (rec.grad_norm + 1e-6));
    for (auto& [p, g] : params)
      for (float& v : *g) v *= factor;
  }
  adam_.set_lr(rec.lr);
  adam_.step(params);
  if (full_) full_->sync_after_update();
  rec.step = ++step_;
  rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return rec;
}

double Trainer::evaluate() {
  require(has_eval(), "no eval data");
  PassOptions pass;
  pass.training = false;
  if (options_.method == TrainMethod::Sft) {
    double sum = 0;
    int64_t n = 0;
    for (const SftExample& ex : sft_eval_) {
      pass.segments = ex.segments;
      const LossResult r = training_loss(model_, lora_, ex.tokens, ex.targets(), pass, pool_);
      sum += r.loss_sum;
      n += r.n_targets;
    }
    return n ? sum / static_cast<double>(n) : 0.0;
  }
  PreferenceOptions pref;
  pref.loss = options_.method == TrainMethod::Dpo ? PreferenceLoss::Dpo : PreferenceLoss::Orpo;
  pref.beta = options_.beta;
  double total = 0;
  for (size_t i = 0; i < pref_eval_.size(); ++i)
    total += preference_loss(model_, *lora_, pref_eval_[i], ref_eval_[i], pref, pass, pool_).loss;
  return total / static_cast<double>(pref_eval_.size());
}

uint64_t Trainer::data_fingerprint() const {
  uint64_t h = 0x6a09e667f3bcc908ull;
  for (const SftExample& ex : sft_train_) {
    hash_ids(h, ex.tokens);
    for (uint8_t t : ex.trained) h = mix64(h ^ t);
    // Packed runs differ from unpacked ones on the same rows; unpacked fingerprints stay
    // as they were, so older checkpoints still resume.
    for (int64_t length : ex.segments) h = mix64(h ^ static_cast<uint64_t>(length));
  }
  for (const PreferenceExample& ex : pref_train_) {
    hash_ids(h, ex.prompt);
    hash_ids(h, ex.chosen);
    hash_ids(h, ex.rejected);
  }
  return h;
}

chat::Json Trainer::run_record() const {
  chat::Json record = {{"step", step_},
          {"adam_step", adam_.steps()},
          {"method", train_method_name(options_.method)},
          {"seed", options_.seed},
          {"batch_size", options_.batch_size},
          {"grad_accum", options_.grad_accum},
          {"total_steps", total_steps()},
          {"n_train", n_train()},
          {"data_fingerprint", data_fingerprint()}};
  if (full_) {
    record["full"] = {{"parameters", full_->parameter_count()}, {"tensors", full_->params().size()}};
  } else {
    chat::Json targets = chat::Json::array();
    for (LoraTarget t : lora_->config.targets) targets.push_back(lora_target_name(t));
    record["lora"] = {{"r", lora_->config.rank},
                      {"lora_alpha", lora_->config.alpha},
                      {"lora_dropout", lora_->config.dropout},
                      {"use_rslora", lora_->config.use_rslora},
                      {"target_modules", targets}};
  }
  return record;
}

AdamW::Parameters Trainer::parameters() { return full_ ? full_->parameters() : lora_->parameters(); }

void Trainer::zero_grad() {
  if (full_) full_->zero_grad();
  else lora_->zero_grad();
}

CheckpointData Trainer::checkpoint() {
  CheckpointData data;
  data.meta = run_record();
  for (auto& [p, g] : parameters()) data.weights.push_back(*p);
  data.adam = adam_.state();
  return data;
}

void Trainer::restore(const CheckpointData& data) {
  const chat::Json now = run_record();
  for (const char* key : {"method", "seed", "batch_size", "grad_accum", "n_train", "data_fingerprint",
                          full_ ? "full" : "lora"})
    require(data.meta.contains(key) && data.meta[key] == now[key], "the checkpoint was made with a different ",
            key == std::string("data_fingerprint") || key == std::string("n_train") ? "training data" : key,
            " (checkpoint: ", data.meta.value(key, chat::Json()).dump(), ", now: ", now[key].dump(), ")");
  auto params = parameters();
  const char* what = full_ ? "model" : "adapter";
  require(params.size() == data.weights.size(), "the checkpoint has ", data.weights.size(), " ", what,
          " tensors, this ", what, " ", params.size());
  for (size_t k = 0; k < params.size(); ++k)
    require(params[k].first->size() == data.weights[k].size(), what, " tensor ", k, " has ",
            data.weights[k].size(), " values in the checkpoint, ", params[k].first->size(), " here");
  // Assign in place: a full model's matrices are viewed by the Model at these addresses.
  for (size_t k = 0; k < params.size(); ++k) std::copy(data.weights[k].begin(), data.weights[k].end(), params[k].first->begin());
  if (full_) full_->sync_after_update();
  AdamW::State state = data.adam;
  if (state.step == 0) state.m.clear(), state.v.clear();  // sized on the first step
  adam_.set_state(std::move(state));
  step_ = data.meta["step"].get<int64_t>();
}

}  // namespace facet::train
