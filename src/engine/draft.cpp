#include "engine/draft.h"

#include <algorithm>
#include <filesystem>

#include "engine/generation.h"
#include "sampling/sampler.h"
#include "util/error.h"

namespace facet {

PromptLookupDrafter::PromptLookupDrafter(int min_ngram, int max_ngram) : min_ngram_(min_ngram), max_ngram_(max_ngram) {
  require(min_ngram >= 1 && max_ngram >= min_ngram, "prompt lookup needs 1 <= min n-gram <= max n-gram (got ",
          min_ngram, " and ", max_ngram, ")");
}

std::vector<int32_t> PromptLookupDrafter::propose(const std::vector<int32_t>& sequence, int max) {
  const int64_t size = static_cast<int64_t>(sequence.size());
  if (max <= 0) return {};
  for (int n = std::min<int64_t>(max_ngram_, size - 1); n >= min_ngram_; --n) {
    const auto tail = sequence.end() - n;
    // The most recent earlier occurrence of the last n tokens that has a token after it.
    for (int64_t start = size - n - 1; start >= 0; --start) {
      if (!std::equal(tail, sequence.end(), sequence.begin() + start)) continue;
      const int64_t from = start + n, to = std::min<int64_t>(size, from + max);
      return {sequence.begin() + from, sequence.begin() + to};
    }
  }
  return {};
}

ModelDrafter::ModelDrafter(const Model& draft, const ModelConfig& main, int64_t context_size, int max_draft,
                           int threads)
    : vocab_(std::min<int64_t>(draft.config.vocab_size, main.vocab_size)) {
  // Gemma 4 models of every size share one 262,144-token vocabulary; a drafter with
  // another size was made for another model family, and its ids would mean other text.
  require(draft.config.vocab_size == main.vocab_size, "the draft model's vocabulary has ", draft.config.vocab_size,
          " tokens but the main model's ", main.vocab_size, ": a drafter must use the main model's tokenizer");
  require(max_draft >= 1, "--draft-max must be at least 1 (got ", max_draft, ")");
  // f32 KV: the drafter's guesses need no extra rounding; its cache is small.
  generator_ = std::make_unique<Generator>(draft, nullptr, context_size, threads, max_draft + 1);
}

ModelDrafter::~ModelDrafter() = default;

std::vector<int32_t> ModelDrafter::propose(const std::vector<int32_t>& sequence, int max) {
  std::vector<int32_t> drafts;
  if (max <= 0 || sequence.empty()) return drafts;
  std::vector<int32_t> context = sequence;
  // Greedy drafts: prefill() reuses the prefix the cache shares with `context` (the drafts
  // the main model rejected last step are dropped there), so each call runs the new tokens only.
  while (static_cast<int>(drafts.size()) < max &&
         static_cast<int64_t>(context.size()) < generator_->context_size()) {
    const std::vector<float> logits = generator_->prefill(context);
    const int32_t next = argmax(logits.data(), vocab_);
    drafts.push_back(next);
    context.push_back(next);
  }
  return drafts;
}

std::string default_drafter_path(const std::string& main_model_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path main(main_model_path);
  std::vector<fs::path> candidates;
  if (fs::is_directory(main, ec)) {
    candidates = {main / "assistant", fs::path(main.string() + "-assistant")};
  } else if (main.extension() == ".gguf") {
    candidates = {main.parent_path() / (main.stem().string() + "-assistant.gguf")};
  }
  for (const fs::path& p : candidates)
    if (fs::exists(p, ec) && is_assistant_model(p.string())) return p.string();
  return "";
}

AssistantDrafter::AssistantDrafter(const AssistantModel& assistant, const ModelConfig& main, int threads)
    : assistant_(assistant), pool_(threads) {
  check_assistant_fits(assistant, main);
}

std::vector<int32_t> AssistantDrafter::propose_for(const DraftInput& input, int max) {
  std::vector<int32_t> drafts;
  // The anchor is the main model's last cached position, whose hidden state starts the chain.
  if (max <= 0 || input.sequence.empty() || input.cache.n_past() == 0 ||
      static_cast<int64_t>(input.hidden.size()) != assistant_.config.backbone_hidden_size)
    return drafts;
  const int64_t anchor = input.cache.n_past() - 1;
  std::vector<float> hidden(input.hidden.begin(), input.hidden.end());
  int32_t token = input.sequence.back();
  // Greedy chain: each step feeds back its own token and projected hidden state.
  while (static_cast<int>(drafts.size()) < max) {
    AssistantStepResult step = assistant_step(assistant_, input.model, input.cache, token, hidden, anchor, pool_);
    token = argmax(step.logits.data(), static_cast<int64_t>(step.logits.size()));
    drafts.push_back(token);
    hidden = std::move(step.hidden);
  }
  return drafts;
}

}  // namespace facet
