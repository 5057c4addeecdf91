#include "engine/generation.h"

#include <algorithm>
#include <chrono>

#include "engine/draft_length.h"
#include "sampling/penalties.h"
#include "tokenizer/streaming_detokenizer.h"
#include "util/error.h"

namespace facet {
namespace {

// Prompt tokens per forward call during prefill: small enough that a cancel request is
// seen quickly, large enough to keep the matrix products efficient.
constexpr int64_t kPrefillChunk = 256;

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

bool cancelled(const std::atomic<bool>* flag) { return flag != nullptr && flag->load(std::memory_order_relaxed); }

}  // namespace

std::vector<MediaSpanKey> media_keys(const std::vector<PromptMedia>& media, int64_t hidden) {
  std::vector<MediaSpanKey> keys;
  for (const PromptMedia& m : media) keys.push_back({m.first, static_cast<int64_t>(m.rows.size()) / hidden, m.hash});
  return keys;
}

int64_t prefix_before_media_change(int64_t keep, const std::vector<MediaSpanKey>& cached,
                                   const std::vector<MediaSpanKey>& prompt) {
  auto contains = [](const std::vector<MediaSpanKey>& list, const MediaSpanKey& m) {
    return std::find(list.begin(), list.end(), m) != list.end();
  };
  for (const MediaSpanKey& m : prompt)
    if (m.first < keep && !contains(cached, m)) keep = m.first;
  for (const MediaSpanKey& m : cached)
    if (m.first < keep && !contains(prompt, m)) keep = m.first;
  return keep;
}

void check_prompt_media(const std::vector<PromptMedia>& media, int64_t n_tokens, int64_t hidden) {
  int64_t end = 0;
  for (const PromptMedia& m : media) {
    const int64_t count = static_cast<int64_t>(m.rows.size()) / hidden;
    require(count > 0 && static_cast<int64_t>(m.rows.size()) == count * hidden && m.first >= end &&
                m.first + count <= n_tokens,
            "media soft tokens at prompt position ", m.first, " (", m.rows.size(), " values) do not fit the ",
            n_tokens, "-token prompt in order with rows of ", hidden);
    end = m.first + count;
  }
}

std::vector<EmbeddingSpan> media_spans_in(const std::vector<PromptMedia>& media, int64_t start, int64_t end,
                                          int64_t hidden) {
  std::vector<EmbeddingSpan> spans;
  for (const PromptMedia& m : media) {
    const int64_t count = static_cast<int64_t>(m.rows.size()) / hidden;
    const int64_t b = std::max(m.first, start), e = std::min(m.first + count, end);
    if (b < e) spans.push_back({b - start, e - b, m.rows.data() + (b - m.first) * hidden, m.image});
  }
  return spans;
}

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::StopToken: return "stop";
    case StopReason::MaxTokens: return "length";
    case StopReason::Cancelled: return "cancelled";
    case StopReason::ContextFull: return "context";
  }
  return "?";
}

std::vector<int32_t> default_stop_ids(const Tokenizer& tokenizer, bool tools_offered) {
  std::vector<int32_t> ids;
  auto add = [&ids](std::optional<int32_t> id) {
    if (id && *id >= 0 && std::find(ids.begin(), ids.end(), *id) == ids.end()) ids.push_back(*id);
  };
  add(tokenizer.eos_id());
  add(tokenizer.find_piece("<eos>"));
  add(tokenizer.find_piece("<turn|>"));
  if (tools_offered) add(tokenizer.find_piece("<|tool_response>"));
  return ids;
}

Generator::Generator(const Model& model, const Tokenizer* tokenizer, int64_t context_size, int threads,
                     int64_t rewind_tokens, KvCacheTypes cache_types)
    : model_(model),
      tokenizer_(tokenizer),
      pool_(threads),
      cache_(model.config, context_size, rewind_tokens, cache_types),
      rewind_tokens_(rewind_tokens) {
  require(tokenizer == nullptr || tokenizer->vocab_size() <= model.config.vocab_size, "the tokenizer has ",
          tokenizer ? tokenizer->vocab_size() : 0, " tokens but the model only ", model.config.vocab_size,
          " (they do not belong together)");
}

void Generator::reset() {
  cache_.clear();
  cached_.clear();
  cached_media_.clear();
  last_hidden_.clear();
}

int64_t Generator::reusable_prefix(const std::vector<int32_t>& prompt, const std::vector<PromptMedia>& media) const {
  const auto mismatch = std::mismatch(cached_.begin(), cached_.end(), prompt.begin(), prompt.end());
  int64_t keep = static_cast<int64_t>(mismatch.first - cached_.begin());
  keep = std::min<int64_t>(keep, static_cast<int64_t>(prompt.size()) - 1);
  keep = prefix_before_media_change(keep, cached_media_, media_keys(media, model_.config.hidden_size));
  if (keep == static_cast<int64_t>(cached_.size())) return keep;  // a pure extension
  return keep > 0 && cache_.can_truncate_to(keep) ? keep : 0;
}

std::vector<float> Generator::prefill(const std::vector<int32_t>& prompt, int64_t* reused,
                                      const std::atomic<bool>* cancel, const std::vector<PromptMedia>& media) {
  require(!prompt.empty(), "the prompt is empty");
  require(static_cast<int64_t>(prompt.size()) <= cache_.context_size(), "the prompt (", prompt.size(),
          " tokens) does not fit in the context of ", cache_.context_size(), " tokens");
  const int64_t H = model_.config.hidden_size, n_prompt = static_cast<int64_t>(prompt.size());
  check_prompt_media(media, n_prompt, H);
  const int64_t keep = reusable_prefix(prompt, media);
  if (keep == 0) {
    reset();
  } else if (keep < static_cast<int64_t>(cached_.size())) {
    cache_.truncate_to(keep);
    cached_.resize(static_cast<size_t>(keep));
    std::erase_if(cached_media_, [&](const MediaSpanKey& m) { return m.first + m.count > keep; });
  }
  if (reused != nullptr) *reused = keep;

  std::vector<float> logits;
  const std::vector<EmbeddingSpan> all_spans = media_spans_in(media, 0, n_prompt, H);
  for (int64_t start = keep, end = 0; start < n_prompt; start = end) {
    if (cancelled(cancel)) return {};
    end = micro_batch_end(model_.config, all_spans, start, kPrefillChunk, n_prompt);  // images stay whole
    std::vector<int32_t> chunk(prompt.begin() + start, prompt.begin() + end);
    const std::vector<EmbeddingSpan> spans = media_spans_in(media, start, end, H);  // may cross chunks
    // forward() checks every id before touching the cache, so a throw leaves it consistent.
    logits = forward(model_, cache_, chunk, LogitsFor::LastToken, pool_, kPrefillChunk, &last_hidden_, spans);
    cached_.insert(cached_.end(), chunk.begin(), chunk.end());
  }
  cached_media_ = media_keys(media, H);  // the cache now holds exactly the prompt
  return logits;
}

std::vector<int32_t> Generator::propose_drafts(const GenerationOptions& options, int length, int32_t next,
                                              const GenerationResult& result) {
  if (options.drafter == nullptr) return {};
  // Drafts must fit in the answer's token limit and the context, and rejected ones must
  // be removable from the sliding-window rings (rewind_tokens positions of slack).
  const int64_t room = std::min<int64_t>({length, rewind_tokens_,
                                          options.max_tokens - static_cast<int64_t>(result.tokens.size()),
                                          cache_.context_size() - cache_.n_past() - 1});
  if (room <= 0) return {};
  std::vector<int32_t> sequence = cached_;
  sequence.push_back(next);
  const DraftInput input{sequence, model_, cache_, last_hidden_};
  std::vector<int32_t> drafts = options.drafter->propose_for(input, static_cast<int>(room));
  if (static_cast<int64_t>(drafts.size()) > room) drafts.resize(static_cast<size_t>(room));
  // A guess outside the vocabulary cannot be run (forward() refuses it): drop it and the rest.
  const auto bad = std::find_if(drafts.begin(), drafts.end(),
                                [&](int32_t id) { return id < 0 || id >= model_.config.vocab_size; });
  drafts.erase(bad, drafts.end());
  return drafts;
}

GenerationResult Generator::generate(const std::vector<int32_t>& prompt, const GenerationOptions& options,
                                     const TokenCallback& on_token, const std::vector<PromptMedia>& media) {
  require(options.max_tokens >= 0, "the token limit must be >= 0 (got ", options.max_tokens, ")");
  Sampler sampler(options.sampling);  // validates the options before any work
  std::optional<DraftLength> draft_length;  // validates the draft range
  if (options.drafter != nullptr) draft_length.emplace(options.draft_min, options.draft_max);
  GenerationResult result;
  result.prompt_tokens = static_cast<int64_t>(prompt.size());

  const auto prefill_start = Clock::now();
  std::vector<float> logits = prefill(prompt, &result.reused_tokens, options.cancel, media);
  result.prefill_seconds = seconds_since(prefill_start);
  if (logits.empty()) {
    result.stop_reason = StopReason::Cancelled;
    return result;
  }

  const auto decode_start = Clock::now();
  std::optional<StreamingDetokenizer> detokenizer;
  if (tokenizer_ != nullptr) detokenizer.emplace(*tokenizer_);
  const int64_t vocab = model_.config.vocab_size;
  result.stop_reason = StopReason::MaxTokens;
  // Adds a chosen token to the answer; true when it ends the generation (a stop token, or
  // the token limit reached).
  auto emit = [&](int32_t id) {
    result.tokens.push_back(id);
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), id) != options.stop_ids.end()) {
      result.stop_reason = StopReason::StopToken;
      result.stop_token = id;
      return true;
    }
    // A model whose vocabulary is larger than its tokenizer's can sample ids the
    // tokenizer cannot show; they stream as empty text.
    if (on_token) on_token(id, detokenizer && id < tokenizer_->vocab_size() ? detokenizer->feed(id) : std::string());
    return static_cast<int64_t>(result.tokens.size()) == options.max_tokens;
  };
  auto penalise = [&](float* row) {
    if (has_logit_adjustments(options.sampling))
      apply_penalties(options.sampling, prompt, result.tokens, std::span<float>(row, static_cast<size_t>(vocab)));
  };

  std::optional<int32_t> corrected;  // the model's own token where it rejected a draft
  while (static_cast<int64_t>(result.tokens.size()) < options.max_tokens) {
    int32_t next;
    if (corrected) {
      next = *corrected;
      corrected.reset();
    } else {
      penalise(logits.data());
      next = sampler.sample(logits.data(), vocab);
    }
    if (emit(next)) break;
    if (cancelled(options.cancel)) {
      result.stop_reason = StopReason::Cancelled;
      break;
    }
    if (cache_.n_past() >= cache_.context_size()) {
      result.stop_reason = StopReason::ContextFull;
      break;
    }
    const std::vector<int32_t> drafts =
        draft_length ? propose_drafts(options, draft_length->next(), next, result) : std::vector<int32_t>();
    ++result.forward_steps;
    if (drafts.empty()) {
      logits = forward(model_, cache_, {next}, LogitsFor::LastToken, pool_, 512, &last_hidden_);
      cached_.push_back(next);
      continue;
    }

    // Run `next` and the drafts in one pass; row i holds the model's logits after run[i],
    // i.e. its choice for where drafts[i] stands.
    const int64_t start = cache_.n_past();
    std::vector<int32_t> run = {next};
    run.insert(run.end(), drafts.begin(), drafts.end());
    std::vector<float> hidden_rows;
    std::vector<float> rows = forward(model_, cache_, run, LogitsFor::AllTokens, pool_, 512, &hidden_rows);
    cached_.insert(cached_.end(), run.begin(), run.end());
    result.drafted_tokens += static_cast<int64_t>(drafts.size());
    size_t kept = 0;
    bool ended = false;
    for (; kept < drafts.size(); ++kept) {
      float* row = rows.data() + static_cast<size_t>(kept) * static_cast<size_t>(vocab);
      penalise(row);
      const int32_t choice = sampler.accept_or_resample(row, vocab, drafts[kept]);
      if (choice != drafts[kept]) {
        corrected = choice;
        break;
      }
      ++result.accepted_tokens;
      if (emit(choice)) {
        ended = true;
        ++kept;
        break;
      }
    }
    draft_length->record(static_cast<int64_t>(drafts.size()), static_cast<int64_t>(kept));
    // The cache keeps `next` and the accepted drafts; as without drafting, a token that
    // ends the generation is not counted as run.
    const int64_t keep = start + 1 + static_cast<int64_t>(kept) - (ended ? 1 : 0);
    cache_.truncate_to(keep);
    cached_.resize(static_cast<size_t>(keep));
    if (ended) break;
    const int64_t H = model_.config.hidden_size;  // the hidden state after the last kept token
    last_hidden_.assign(hidden_rows.begin() + static_cast<std::ptrdiff_t>(kept * H),
                        hidden_rows.begin() + static_cast<std::ptrdiff_t>((kept + 1) * H));
    if (!corrected) {  // every draft accepted: the last row gives the token after them
      const size_t last = drafts.size() * static_cast<size_t>(vocab);
      logits.assign(rows.begin() + static_cast<std::ptrdiff_t>(last),
                    rows.begin() + static_cast<std::ptrdiff_t>(last + static_cast<size_t>(vocab)));
    }
  }
  // A character still incomplete at the end is shown as U+FFFD, as decode() would.
  if (detokenizer && on_token)
    if (std::string rest = detokenizer->flush(); !rest.empty()) on_token(-1, rest);
  result.decode_seconds = seconds_since(decode_start);
  return result;
}

}  // namespace facet
