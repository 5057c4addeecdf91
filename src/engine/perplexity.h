// Perplexity of a model over a token stream, and its KL divergence from a higher-precision
// run of the same model (same vocabulary) — the quality number for each quantization type.
//
// Windows (perplexity_windows):
//   - default, as llama-perplexity: the stream is cut into non-overlapping chunks of
//     `context` tokens; each chunk's first token is replaced by BOS; only the second half
//     is scored (position j predicts token j+1 for j in [context/2, context-1)), so every
//     scored token sees at least half a window of context.
//   - stride S (0 < S <= context - 1): sliding windows, BOS + up to context-1 stream tokens,
//     starting every S tokens; each window scores the tokens no earlier window scored
//     (the first window scores all of its tokens after BOS, later ones their last S).
//     Every stream token after the first is scored exactly once.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model/model.h"

namespace facet {

class ThreadPool;

struct PerplexityOptions {
  int64_t context = 512;
  int64_t stride = 0;       // 0: llama-perplexity's non-overlapping chunks
  int64_t max_windows = 0;  // 0: all
  int64_t batch = 512;      // forward micro-batch
};

struct EvalWindow {
  std::vector<int32_t> tokens;  // what the model sees, BOS first
  int64_t first_scored = 0;     // logits at positions [first_scored, size-1) are scored
};

// Throws Error when the stream is too short for one window or the options are invalid.
std::vector<EvalWindow> perplexity_windows(const std::vector<int32_t>& stream, int32_t bos_id,
                                           const PerplexityOptions& options);

struct QuantileSummary {
  double mean = 0, median = 0, p90 = 0, p95 = 0, p99 = 0, max = 0;
};

struct PerplexityResult {
  int64_t windows = 0;
  int64_t scored_tokens = 0;
  double nll = 0;   // mean negative log-likelihood (nats)
  double ppl = 0;   // exp(nll)
  double ppl_error = 0;  // standard error of ppl: ppl * SE(mean nll), as llama-perplexity reports
  std::vector<double> window_ppl;  // cumulative PPL after each window (progress lines)

  // KL mode (evaluate_against_base) only.
  bool has_base = false;
  double base_ppl = 0, base_ppl_error = 0;
  QuantileSummary kl;             // KL(base || model) per token, nats
  double top1_agreement = 0;      // fraction of positions where both argmaxes agree
  double mean_delta_logprob = 0;  // mean of log p_model(next) - log p_base(next)
};

using WindowProgress = std::function<void(int64_t done, int64_t total, const PerplexityResult& so_far)>;

PerplexityResult evaluate_perplexity(const Model& model, const std::vector<EvalWindow>& windows, ThreadPool& pool,
                                     int64_t batch, const WindowProgress& progress = {});

// Runs every window on `model` and on `base`; both must have the same vocabulary size.
PerplexityResult evaluate_against_base(const Model& model, const Model& base, const std::vector<EvalWindow>& windows,
                                       ThreadPool& pool, int64_t batch, const WindowProgress& progress = {});

}  // namespace facet
