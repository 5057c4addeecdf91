#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>

#include "model/forward.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

// Logits of positions [w.first_scored, size-1) of a window. The positions before them are
// run without logits (LastToken), which skips the output matrix for the unscored half.
std::vector<float> scored_logits(const Model& model, const EvalWindow& w, ThreadPool& pool, int64_t batch) {
  KvCache cache(model.config, static_cast<int64_t>(w.tokens.size()));
  const auto first = w.tokens.begin() + w.first_scored;
  if (w.first_scored > 0) forward(model, cache, std::vector<int32_t>(w.tokens.begin(), first), LogitsFor::LastToken, pool, batch);
  return forward(model, cache, std::vector<int32_t>(first, w.tokens.end() - 1), LogitsFor::AllTokens, pool, batch);
}

// Double-precision log-softmax of one row of logits.
void log_softmax(const float* logits, int64_t n, std::vector<double>& out) {
  out.resize(static_cast<size_t>(n));
  double max = logits[0];
  for (int64_t i = 1; i < n; ++i) max = std::max(max, static_cast<double>(logits[i]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(logits[i]) - max);
  const double log_z = max + std::log(sum);
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<double>(logits[i]) - log_z;
}

// Running sums of -log p(next token): mean, and the standard error llama-perplexity quotes.
struct NllSum {
  double sum = 0, sum_sq = 0;
  int64_t count = 0;
  void add(double nll) { sum += nll, sum_sq += nll * nll, ++count; }
  double mean() const { return count ? sum / static_cast<double>(count) : 0; }
  double ppl_error() const {
    if (count < 2) return 0;
    const double m = mean();
    const double var = std::max(0.0, sum_sq / static_cast<double>(count) - m * m);
    return std::exp(m) * std::sqrt(var / static_cast<double>(count - 1));
  }
};

QuantileSummary summarize(std::vector<double> values) {
  QuantileSummary q;
  if (values.empty()) return q;
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  q.mean = sum / static_cast<double>(values.size());
  auto at = [&](double f) { return values[static_cast<size_t>(std::floor(f * static_cast<double>(values.size() - 1)))]; };
  q.median = at(0.5), q.p90 = at(0.9), q.p95 = at(0.95), q.p99 = at(0.99), q.max = values.back();
  return q;
}

size_t argmax(const std::vector<double>& v) { return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin()); }

// Shared by both modes: `base` may be null (plain perplexity).
PerplexityResult evaluate(const Model& model, const Model* base, const std::vector<EvalWindow>& windows,
                          ThreadPool& pool, int64_t batch, const WindowProgress& progress) {
  const int64_t V = model.config.vocab_size;
  if (base)
    require(base->config.vocab_size == V, "the base model has a vocabulary of ", base->config.vocab_size,
            " tokens and the model ", V, ": KL divergence needs the same vocabulary");
  PerplexityResult r;
  r.has_base = base != nullptr;
  NllSum nll, base_nll;
  std::vector<double> kl_values;
  double delta_sum = 0;
  int64_t agree = 0;
  std::vector<double> lp, base_lp;
  for (const EvalWindow& w : windows) {
    const std::vector<float> logits = scored_logits(model, w, pool, batch);
    std::vector<float> base_logits;
    if (base) base_logits = scored_logits(*base, w, pool, batch);
    const int64_t rows = static_cast<int64_t>(w.tokens.size()) - 1 - w.first_scored;
    for (int64_t i = 0; i < rows; ++i) {
      const size_t next = static_cast<size_t>(w.tokens[static_cast<size_t>(w.first_scored + i + 1)]);
      log_softmax(&logits[static_cast<size_t>(i * V)], V, lp);
      nll.add(-lp[next]);
      if (!base) continue;
      log_softmax(&base_logits[static_cast<size_t>(i * V)], V, base_lp);
      base_nll.add(-base_lp[next]);
      double kl = 0;
      for (size_t v = 0; v < lp.size(); ++v) kl += std::exp(base_lp[v]) * (base_lp[v] - lp[v]);
      kl_values.push_back(std::max(0.0, kl));  // rounding can leave -1e-17 for identical rows
      agree += argmax(lp) == argmax(base_lp);
      delta_sum += lp[next] - base_lp[next];
    }
    ++r.windows;
    r.scored_tokens = nll.count;
    r.nll = nll.mean();
    r.ppl = std::exp(r.nll);
    r.ppl_error = nll.ppl_error();
    r.window_ppl.push_back(r.ppl);
    if (progress) progress(r.windows, static_cast<int64_t>(windows.size()), r);
  }
  if (base && nll.count > 0) {
    r.base_ppl = std::exp(base_nll.mean());
    r.base_ppl_error = base_nll.ppl_error();
    r.kl = summarize(kl_values);
    r.top1_agreement = static_cast<double>(agree) / static_cast<double>(nll.count);
    r.mean_delta_logprob = delta_sum / static_cast<double>(nll.count);
  }
  return r;
}

}  // namespace

std::vector<EvalWindow> perplexity_windows(const std::vector<int32_t>& stream, int32_t bos_id,
                                           const PerplexityOptions& o) {
  require(o.context >= 4, "the context (-c) must be at least 4 tokens (got ", o.context, ")");
  require(o.max_windows >= 0, "--chunks must be 0 (all) or more (got ", o.max_windows, ")");
  std::vector<EvalWindow> windows;
  const int64_t T = static_cast<int64_t>(stream.size());
  if (o.stride == 0) {
    // llama-perplexity: the BOS-prefixed stream in chunks of `context`, BOS first in each.
    const int64_t n = (T + 1) / o.context;
    require(n >= 1, "the text has ", T, " tokens; one window of -c ", o.context, " needs at least ",
            o.context - 1, " (use a smaller -c)");
    for (int64_t k = 0; k < n && (o.max_windows == 0 || k < o.max_windows); ++k) {
      EvalWindow w;
      w.tokens.push_back(bos_id);
      const int64_t begin = k * o.context;  // index into [BOS] + stream; its token is replaced by BOS
      for (int64_t i = begin + 1; i < begin + o.context; ++i) w.tokens.push_back(stream[static_cast<size_t>(i - 1)]);
      w.first_scored = o.context / 2;
      windows.push_back(std::move(w));
    }
    return windows;
  }
  const int64_t L = o.context - 1;  // stream tokens per window, after BOS
  require(o.stride >= 1 && o.stride <= L, "--stride must be between 1 and -c minus 1 (", L, "), got ", o.stride);
  require(T >= 2, "the text has ", T, " tokens; perplexity needs at least 2");
  int64_t prev_end = 0;
  for (int64_t start = 0; prev_end < T && (o.max_windows == 0 || static_cast<int64_t>(windows.size()) < o.max_windows);
       start += o.stride) {
    const int64_t end = std::min(start + L, T);
    EvalWindow w;
    w.tokens.push_back(bos_id);
    w.tokens.insert(w.tokens.end(), stream.begin() + start, stream.begin() + end);
    // Window position p holds stream[start + p - 1] and predicts stream[start + p].
    w.first_scored = windows.empty() ? 1 : prev_end - start;
    prev_end = end;
    if (w.first_scored < static_cast<int64_t>(w.tokens.size()) - 1) windows.push_back(std::move(w));
  }
  return windows;
}

PerplexityResult evaluate_perplexity(const Model& model, const std::vector<EvalWindow>& windows, ThreadPool& pool,
                                     int64_t batch, const WindowProgress& progress) {
  return evaluate(model, nullptr, windows, pool, batch, progress);
}

PerplexityResult evaluate_against_base(const Model& model, const Model& base, const std::vector<EvalWindow>& windows,
                                       ThreadPool& pool, int64_t batch, const WindowProgress& progress) {
  return evaluate(model, &base, windows, pool, batch, progress);
}

}  // namespace facet
