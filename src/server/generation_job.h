// One generation request in flight: submitted to the model's Scheduler, whose thread
// hands each token's text here; the HTTP thread takes the output as it comes (streaming)
// or at the end. Between the two, the raw text goes through stop strings (held back while
// it could still be the start of one) and, for chat, the output parser (thinking /
// answer / tool calls). Dropping the job cancels the sequence (a client that went away
// frees its slot at once).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "chat/output_parser.h"
#include "server/model_registry.h"
#include "server/request_params.h"
#include "server/tool_call_validator.h"

namespace facet::server {

struct JobSpec {
  std::vector<int32_t> prompt;     // BOS included
  std::vector<PromptMedia> media;  // soft tokens of the prompt's images and audio (media_input.h)
  GenerationParams params;
  bool parse_output = true;        // chat: split thinking/answer/tool calls; raw: all content
  bool tools_offered = false;
  bool thinking = false;
  // LoRA scales for a model with --lora adapters (request_lora_scales); nullopt = the
  // server-wide ones.
  std::optional<std::vector<double>> lora_scales;
  // tool_choice "required" / a named function: the answer is constrained to one call to
  // one of these (tool_call_logit_filter.h). Exclusive with params.schema.
  std::optional<std::vector<ToolFunction>> forced_call;
};

struct JobOutput {
  std::string thinking;
  std::string content;
  std::vector<chat::ParsedToolCall> tool_calls;
  // With logprobs requested: one entry per generated token (a stop token excepted), in
  // order. They arrive with or before the text of their tokens (text waits while it may be
  // the start of a stop string).
  std::vector<TokenLogprob> logprobs;
  bool empty() const { return thinking.empty() && content.empty() && tool_calls.empty() && logprobs.empty(); }
};

struct JobResult {
  std::string finish_reason;       // "stop", "length", or "cancelled"
  std::string error;               // non-empty when generation failed
  std::vector<int32_t> tokens;     // generated ids (a stop token included)
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t reasoning_tokens = 0;    // of completion_tokens: the thought block, its markers included
  int64_t reused_tokens = 0;
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// How many of `tokens` belong to thought blocks: from each <|channel> through its
// <channel|> (or to the end when generation stopped inside one), markers included, as
// OpenAI's `reasoning_tokens` counts everything the model spent thinking.
int64_t count_reasoning_tokens(const std::vector<int32_t>& tokens, std::optional<int32_t> channel_open,
                               std::optional<int32_t> channel_close);

class GenerationJob {
 public:
  // Tokenized prompt in, job running out. 400 when the prompt does not fit the context,
  // 503 when the model's queue is full.
  static std::unique_ptr<GenerationJob> start(std::shared_ptr<LoadedModel> model, JobSpec spec);
  ~GenerationJob();  // cancels the sequence if it is still running

  enum class Poll { Output, Idle, Finished };
  // Waits up to `timeout` for output. Output: `out` has new text/calls. Finished: nothing
  // is left to take and result() is final.
  Poll poll(JobOutput& out, std::chrono::milliseconds timeout);
  // Runs to the end and returns everything.
  JobOutput collect();
  JobResult result() const;
  void cancel();
  const LoadedModel& model() const { return *model_; }

 private:
  struct Shared;
  GenerationJob(std::shared_ptr<LoadedModel> model, std::shared_ptr<Shared> shared);

  std::shared_ptr<LoadedModel> model_;  // kept loaded while the job lives
  std::shared_ptr<Shared> shared_;      // also held by the scheduler's callbacks
  uint64_t id_ = 0;
};

// Appends `delta` to `total` (used to build whole answers from streamed pieces).
void append_output(JobOutput& total, const JobOutput& delta);

}  // namespace facet::server
