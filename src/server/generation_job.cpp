#include "server/generation_job.h"

#include <algorithm>

#include "engine/generation.h"
#include "server/json_logit_filter.h"
#include "server/lora_adapters.h"
#include "server/tool_call_logit_filter.h"

namespace facet::server {

// Everything the scheduler thread writes and the HTTP thread reads.
struct GenerationJob::Shared {
  std::mutex mutex;
  std::condition_variable changed;
  JobOutput pending;        // produced, not yet taken
  bool finished = false;
  JobResult result;

  // Scheduler-thread only.
  std::optional<chat::OutputParser> parser;
  std::vector<std::string> stop_strings;
  std::string held;         // raw text that may be the start of a stop string
  bool stopped_by_string = false;

  // Raw text -> parsed pieces -> pending (under the lock).
  void emit(const std::string& raw, bool final, bool truncated) {
    JobOutput out;
    auto take = [&out](const chat::OutputDelta& d) {
      out.thinking += d.thinking;
      out.content += d.content;
      out.tool_calls.insert(out.tool_calls.end(), d.tool_calls.begin(), d.tool_calls.end());
    };
    if (parser) {
      if (!raw.empty()) take(parser->feed(raw));
      if (final) take(parser->finish(truncated));
    } else {
      out.content = raw;
    }
    if (out.empty()) return;
    std::lock_guard<std::mutex> lock(mutex);
    append_output(pending, out);
    changed.notify_all();
  }

  // Returns false when a stop string was found (generation should end).
  bool on_text(const std::string& text) {
    if (stop_strings.empty()) {
      emit(text, false, false);
      return true;
    }
    held += text;
    size_t first = std::string::npos;
    for (const std::string& s : stop_strings) first = std::min(first, held.find(s));
    if (first != std::string::npos) {
      emit(held.substr(0, first), false, false);
      held.clear();
      stopped_by_string = true;
      return false;
    }
    // Keep back the longest tail that begins some stop string.
    size_t keep = 0;
    for (const std::string& s : stop_strings)
      for (size_t n = std::min(s.size() - 1, held.size()); n > keep; --n)
        if (held.compare(held.size() - n, n, s, 0, n) == 0) {
          keep = n;
          break;
        }
    emit(held.substr(0, held.size() - keep), false, false);
    held.erase(0, held.size() - keep);
    return true;
  }
};

void append_output(JobOutput& total, const JobOutput& delta) {
  total.thinking += delta.thinking;
  total.content += delta.content;
  total.tool_calls.insert(total.tool_calls.end(), delta.tool_calls.begin(), delta.tool_calls.end());
  total.logprobs.insert(total.logprobs.end(), delta.logprobs.begin(), delta.logprobs.end());
}

int64_t count_reasoning_tokens(const std::vector<int32_t>& tokens, std::optional<int32_t> channel_open,
                               std::optional<int32_t> channel_close) {
  if (!channel_open) return 0;
  int64_t count = 0;
  bool inside = false;
  for (int32_t id : tokens) {
    if (id == *channel_open) inside = true;
    if (inside) ++count;
    if (channel_close && id == *channel_close) inside = false;
  }
  return count;
}

GenerationJob::GenerationJob(std::shared_ptr<LoadedModel> model, std::shared_ptr<Shared> shared)
    : model_(std::move(model)), shared_(std::move(shared)) {}

std::unique_ptr<GenerationJob> GenerationJob::start(std::shared_ptr<LoadedModel> model, JobSpec spec) {
  const int64_t context = std::min(model->context_size, spec.params.num_ctx.value_or(model->context_size));
  const int64_t prompt_size = static_cast<int64_t>(spec.prompt.size());
  if (prompt_size >= context)
    throw_http(400,
               "the prompt (" + std::to_string(prompt_size) + " tokens) does not fit in the context of " +
                   std::to_string(context) + " tokens",
               "context_length_exceeded");
  auto shared = std::make_shared<Shared>();
  if (spec.parse_output) shared->parser.emplace(chat::OutputParserOptions{.calls_without_opener = spec.tools_offered});
  shared->stop_strings = spec.params.stop;

  SequenceRequest request;
  request.prompt = std::move(spec.prompt);
  request.media = std::move(spec.media);
  request.sampling = spec.params.sampling;
  request.max_tokens = std::min(spec.params.max_tokens.value_or(context), context - prompt_size);
  request.stop_ids = default_stop_ids(model->tokenizer, spec.tools_offered);
  for (const auto& [id, bias] : spec.params.sampling.logit_bias)
    if (id >= model->tokenizer.vocab_size())
      throw_http(400, "logit_bias names token " + std::to_string(id) + ", but the vocabulary has " +
                          std::to_string(model->tokenizer.vocab_size()) + " tokens");
  request.top_logprobs = spec.params.top_logprobs;
  if (request.top_logprobs >= 0)
    request.on_logprob = [shared](const TokenLogprob& lp) {
      std::lock_guard<std::mutex> lock(shared->mutex);
      shared->pending.logprobs.push_back(lp);
      shared->changed.notify_all();
    };
  if (model->loras) request.adapter_scales = spec.lora_scales.value_or(model->loras->scales());
  if (spec.params.schema) {
    auto filter = std::make_shared<JsonLogitFilter>(*spec.params.schema, model->token_texts(), model->tokenizer,
                                                    request.stop_ids, spec.thinking && spec.parse_output);
    request.logit_filter = [filter](std::span<float> logits, const std::vector<int32_t>& generated) {
      filter->apply(logits, generated);
    };
  } else if (spec.forced_call) {
    auto filter = std::make_shared<ToolCallLogitFilter>(std::move(*spec.forced_call), model->token_texts(),
                                                        model->tokenizer, request.stop_ids, spec.thinking);
    request.logit_filter = [filter](std::span<float> logits, const std::vector<int32_t>& generated) {
      filter->apply(logits, generated);
    };
  }
  auto on_token = [shared](int32_t, const std::string& text) { return shared->on_text(text); };
  const bool parse_output = spec.parse_output;
  const std::optional<int32_t> channel_open = model->tokenizer.find_piece("<|channel>");
  const std::optional<int32_t> channel_close = model->tokenizer.find_piece("<channel|>");
  auto on_done = [shared, parse_output, channel_open, channel_close](const GenerationResult& r,
                                                                     const std::string& error) {
    const bool truncated = r.stop_reason == StopReason::MaxTokens || r.stop_reason == StopReason::ContextFull;
    if (error.empty()) {
      if (!shared->stopped_by_string) shared->emit(shared->held, true, truncated);
      else shared->emit("", true, false);
    }
    std::lock_guard<std::mutex> lock(shared->mutex);
    JobResult& out = shared->result;
    out.error = error;
    out.tokens = r.tokens;
    out.prompt_tokens = r.prompt_tokens;
    out.completion_tokens = static_cast<int64_t>(r.tokens.size());
    if (parse_output) out.reasoning_tokens = count_reasoning_tokens(r.tokens, channel_open, channel_close);
    out.reused_tokens = r.reused_tokens;
    out.prefill_seconds = r.prefill_seconds;
    out.decode_seconds = r.decode_seconds;
    if (shared->stopped_by_string || r.stop_reason == StopReason::StopToken) out.finish_reason = "stop";
    else if (truncated) out.finish_reason = "length";
    else out.finish_reason = "cancelled";
    shared->finished = true;
    shared->changed.notify_all();
  };
  std::unique_ptr<GenerationJob> job(new GenerationJob(model, shared));
  job->id_ = model->scheduler->submit(std::move(request), on_token, on_done);
  if (job->id_ == 0) throw_http(503, "server busy: too many requests are waiting, try again later", "server_busy");
  return job;
}

GenerationJob::~GenerationJob() { cancel(); }

void GenerationJob::cancel() {
  bool finished;
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    finished = shared_->finished;
  }
  if (!finished && id_ != 0) model_->scheduler->cancel(id_);
}

GenerationJob::Poll GenerationJob::poll(JobOutput& out, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(shared_->mutex);
  shared_->changed.wait_for(lock, timeout, [this] { return !shared_->pending.empty() || shared_->finished; });
  if (!shared_->pending.empty()) {
    out = std::move(shared_->pending);
    shared_->pending = {};
    return Poll::Output;
  }
  return shared_->finished ? Poll::Finished : Poll::Idle;
}

JobOutput GenerationJob::collect() {
  JobOutput total, piece;
  while (true) {
    const Poll p = poll(piece, std::chrono::milliseconds(1000));
    if (p == Poll::Output) append_output(total, piece);
    if (p == Poll::Finished) return total;
  }
}

JobResult GenerationJob::result() const {
  std::lock_guard<std::mutex> lock(shared_->mutex);
  return shared_->result;
}

}  // namespace facet::server
