// The scheduler's worker: admits queued requests into KV slots, then loops over steps.
// A step runs every decoding sequence's last sampled token and up to `prefill_chunk`
// prompt tokens of the sequences still prefilling, samples for every sequence whose
// pending tokens are all in the cache, and retires finished sequences. Everything that
// touches a KV cache or calls back happens on the worker thread; the mutex only guards
// the queue, the cancel requests and the stats.
#include "engine/scheduler.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "engine/draft_length.h"
#include "model/forward.h"
#include "sampling/penalties.h"
#include "tokenizer/streaming_detokenizer.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Request {
  uint64_t id = 0;
  SequenceRequest request;
  SequenceTokenCallback on_token;
  SequenceDoneCallback on_done;
};

// A request that holds a slot.
struct Running {
  explicit Running(Request r) : request(std::move(r)), sampler(request.request.sampling) {}
  Request request;
  Sampler sampler;
  std::optional<StreamingDetokenizer> detokenizer;
  GenerationResult result;
  std::vector<int32_t> pending;  // tokens still to run: the rest of the prompt, or the last sampled token
  size_t pending_done = 0;       // how many of them are already in the cache
  int64_t prompt_offset = 0;     // while prefilling: the prompt index of pending[0]
  std::vector<int32_t> drafts;   // the drafter's guesses run after `pending` this step
  std::optional<DraftLength> draft_length;  // how many to ask for (with a drafter)
  std::vector<float> last_hidden;  // final normed hidden state after the last cached token (drafters)
  bool prefilling = true;
  Clock::time_point phase_start = Clock::now();
};

// One sequence's KV cache. When idle it keeps the tokens it holds so that a later
// request extending them (the next chat turn) only runs what is new.
struct Slot {
  Slot(const ModelConfig& config, const SchedulerOptions& o)
      : cache(config, o.context_size, o.rewind_tokens, o.cache_types) {}
  KvCache cache;
  std::vector<int32_t> cached;  // the tokens whose K/V the cache holds, in order
  std::vector<double> cached_scales;  // the LoRA scales those K/V were computed under
  std::vector<MediaSpanKey> cached_media;  // images/audio among `cached`
  std::optional<Running> seq;
  uint64_t last_used = 0;       // admission counter, for least-recently-used eviction
};

// What one sequence runs in a step.
struct Work {
  Slot* slot;
  std::vector<int32_t> tokens;  // pending tokens, then the drafts (if any)
  std::vector<EmbeddingSpan> media = {};  // soft tokens among a prompt chunk's tokens
};

// Cached tokens that `slot` can keep for `prompt` (the rules of Generator::reusable_prefix):
// the shared prefix, leaving at least one prompt token to run (its logits are needed), and
// only as far back as the cache can rewind (sliding-window rings).
int64_t reusable_prefix(const Slot& slot, const SequenceRequest& request, int64_t hidden) {
  const std::vector<int32_t>& prompt = request.prompt;
  // K/V computed with other adapter scales are other numbers: nothing carries over.
  if (slot.cached_scales != request.adapter_scales) return 0;
  const auto mismatch = std::mismatch(slot.cached.begin(), slot.cached.end(), prompt.begin(), prompt.end());
  int64_t keep = static_cast<int64_t>(mismatch.first - slot.cached.begin());
  keep = std::min<int64_t>(keep, static_cast<int64_t>(prompt.size()) - 1);
  keep = prefix_before_media_change(keep, slot.cached_media, media_keys(request.media, hidden));
  if (keep == static_cast<int64_t>(slot.cached.size())) return keep;
  return keep > 0 && slot.cache.can_truncate_to(keep) ? keep : 0;
}

}  // namespace

struct Scheduler::State {
  State(const Model& m, const Tokenizer* t, SchedulerOptions o) : model(m), tokenizer(t), options(o), pool(o.threads) {}

  const Model& model;
  const Tokenizer* tokenizer;
  const SchedulerOptions options;
  ThreadPool pool;

  // Guarded by mutex.
  mutable std::mutex mutex;
  std::condition_variable wake;
  std::deque<Request> queue;
  std::deque<std::packaged_task<void()>> between_steps;  // run_between_steps' tasks
  std::unordered_set<uint64_t> running_ids, cancel_ids;
  SchedulerStats stats;
  uint64_t next_id = 1;
  bool stopping = false;

  // Worker thread only.
  std::vector<std::unique_ptr<Slot>> slots;  // allocated on first use, up to max_sequences
  int64_t running = 0;
  uint64_t admissions = 0;
  std::thread worker;

  void worker_loop();
  void run_between_steps_tasks();
  void start(Request request);
  Slot& choose_slot(const SequenceRequest& request, int64_t& keep);
  void run_group(std::vector<Work>& work);
  std::optional<std::vector<double>> applied_scales;  // what set_adapter_scales last set
  void step();
  void sample(Slot& slot, std::span<float> logits);
  std::optional<int32_t> choose(Slot& slot, std::span<float> logits, std::optional<int32_t> draft);
  bool emit(Slot& slot, int32_t next, int64_t cached_positions = -1);
  std::vector<int32_t> propose_drafts(Slot& slot);
  void verify(Slot& slot, const Work& work, float* rows, const float* hidden_rows);
  void finish(Slot& slot, StopReason reason, const std::string& error = {});
  void count(const std::function<void(SchedulerStats&)>& update) {
    std::lock_guard lock(mutex);
    update(stats);
  }
};

namespace {

void call_done(const Request& r, const GenerationResult& result, const std::string& error) {
  if (!r.on_done) return;
  try {
    r.on_done(result, error);
  } catch (...) {
    // A throwing callback must not take the worker (and every other stream) down.
  }
}

std::string check_request(const ModelConfig& c, int64_t context, const SequenceRequest& r) {
  if (r.prompt.empty()) return "the prompt is empty";
  if (static_cast<int64_t>(r.prompt.size()) > context)
    return "the prompt (" + std::to_string(r.prompt.size()) + " tokens) does not fit in the context of " +
           std::to_string(context) + " tokens";
  for (int32_t id : r.prompt)
    if (id < 0 || id >= c.vocab_size || (c.has_ple() && id >= c.ple_vocab))
      return "token id " + std::to_string(id) + " is out of range (the vocabulary has " +
             std::to_string(c.vocab_size) + " entries)";
  if (r.max_tokens < 0) return "the token limit must be >= 0 (got " + std::to_string(r.max_tokens) + ")";
  try {
    check_prompt_media(r.media, static_cast<int64_t>(r.prompt.size()), c.hidden_size);
    validate(r.sampling);
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

}  // namespace

Scheduler::Scheduler(const Model& model, const Tokenizer* tokenizer, SchedulerOptions options) {
  require(options.max_sequences >= 1, "max_sequences must be >= 1 (got ", options.max_sequences, ")");
  require(options.context_size >= 1, "context size must be positive (got ", options.context_size, ")");
  require(model.config.max_context <= 0 || options.context_size <= model.config.max_context, "context size ",
          options.context_size, " exceeds the model's maximum of ", model.config.max_context, " tokens");
  require(options.max_queue >= 0, "max_queue must be >= 0 (got ", options.max_queue, ")");
  require(options.prefill_chunk >= 1, "prefill_chunk must be >= 1 (got ", options.prefill_chunk, ")");
  require(options.rewind_tokens >= 0, "rewind_tokens must be >= 0 (got ", options.rewind_tokens, ")");
  if (options.drafter != nullptr) DraftLength(options.draft_min, options.draft_max);  // throws for a bad range
  // Checks the cache shape and types now rather than at the first request.
  (void)KvCache::planned_bytes(model.config, options.context_size, options.rewind_tokens, options.cache_types);
  require(tokenizer == nullptr || tokenizer->vocab_size() <= model.config.vocab_size, "the tokenizer has ",
          tokenizer ? tokenizer->vocab_size() : 0, " tokens but the model only ", model.config.vocab_size,
          " (they do not belong together)");
  state_ = std::make_unique<State>(model, tokenizer, options);
  state_->slots.resize(static_cast<size_t>(options.max_sequences));
  state_->worker = std::thread([s = state_.get()] { s->worker_loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  state_->worker.join();
}

uint64_t Scheduler::submit(SequenceRequest request, SequenceTokenCallback on_token, SequenceDoneCallback on_done) {
  uint64_t id = 0;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping || static_cast<int64_t>(state_->queue.size()) >= state_->options.max_queue) {
      ++state_->stats.requests_rejected;
      return 0;
    }
    id = state_->next_id++;
    state_->queue.push_back(Request{id, std::move(request), std::move(on_token), std::move(on_done)});
    state_->stats.queued = static_cast<int64_t>(state_->queue.size());
  }
  state_->wake.notify_all();
  return id;
}

void Scheduler::cancel(uint64_t id) {
  {
    std::lock_guard lock(state_->mutex);
    const bool queued = std::any_of(state_->queue.begin(), state_->queue.end(),
                                    [id](const Request& r) { return r.id == id; });
    if (!queued && !state_->running_ids.count(id)) return;  // unknown or already done
    state_->cancel_ids.insert(id);
  }
  state_->wake.notify_all();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard lock(state_->mutex);
  return state_->stats;
}

const SchedulerOptions& Scheduler::options() const { return state_->options; }

void Scheduler::State::worker_loop() {
  for (;;) {
    std::vector<Request> admitted, dropped;
    std::unordered_set<uint64_t> cancel_running;
    {
      std::unique_lock lock(mutex);
      wake.wait(lock, [&] { return stopping || running > 0 || !queue.empty() || !between_steps.empty(); });
      if (stopping) break;
      for (auto it = queue.begin(); it != queue.end();) {
        if (cancel_ids.erase(it->id)) {
          dropped.push_back(std::move(*it));
          it = queue.erase(it);
        } else {
          ++it;
        }
      }
      for (uint64_t id : cancel_ids)
        if (running_ids.count(id)) cancel_running.insert(id);
      cancel_ids.clear();
      while (!queue.empty() && running + static_cast<int64_t>(admitted.size()) < options.max_sequences) {
        running_ids.insert(queue.front().id);
        admitted.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      stats.queued = static_cast<int64_t>(queue.size());
    }
    for (Request& r : dropped) {
      GenerationResult result;
      result.stop_reason = StopReason::Cancelled;
      result.prompt_tokens = static_cast<int64_t>(r.request.prompt.size());
      count([](SchedulerStats& s) { ++s.requests_done; });
      call_done(r, result, {});
    }
    for (auto& slot : slots)
      if (slot && slot->seq && cancel_running.count(slot->seq->request.id)) finish(*slot, StopReason::Cancelled);
    run_between_steps_tasks();
    for (Request& r : admitted) start(std::move(r));
    if (running > 0) step();
  }
  run_between_steps_tasks();  // nobody waiting on one is left hanging at shutdown

  // Shutting down: everything still running or queued ends as cancelled.
  for (auto& slot : slots)
    if (slot && slot->seq) finish(*slot, StopReason::Cancelled);
  std::deque<Request> rest;
  {
    std::lock_guard lock(mutex);
    rest.swap(queue);
    stats.queued = 0;
  }
  for (Request& r : rest) {
    GenerationResult result;
    result.stop_reason = StopReason::Cancelled;
    result.prompt_tokens = static_cast<int64_t>(r.request.prompt.size());
    call_done(r, result, {});
  }
}

void Scheduler::State::run_between_steps_tasks() {
  std::deque<std::packaged_task<void()>> tasks;
  {
    std::lock_guard lock(mutex);
    tasks.swap(between_steps);
  }
  if (tasks.empty()) return;
  for (auto& task : tasks) task();  // a packaged_task keeps its exception for the caller
  applied_scales.reset();           // the tasks may have set other LoRA scales
}

void Scheduler::run_between_steps(const std::function<void(ThreadPool&)>& task) {
  std::packaged_task<void()> packaged([&] { task(state_->pool); });
  std::future<void> done = packaged.get_future();
  {
    std::lock_guard lock(state_->mutex);
    state_->between_steps.push_back(std::move(packaged));
  }
  state_->wake.notify_all();
  done.get();
}

Slot& Scheduler::State::choose_slot(const SequenceRequest& request, int64_t& keep) {
  // The idle slot this prompt continues: it keeps at least half of what the slot holds (a
  // later turn of the same conversation), and the most tokens among such slots. A prompt
  // that merely starts the same way (BOS, a shared system prompt) does not take over
  // another conversation's cache while a fresh slot is available.
  Slot* best = nullptr;
  keep = 0;
  for (auto& slot : slots)
    if (slot && !slot->seq) {
      const int64_t k = reusable_prefix(*slot, request, model.config.hidden_size);
      if (k > keep && 2 * k >= static_cast<int64_t>(slot->cached.size())) keep = k, best = slot.get();
    }
  if (best != nullptr) return *best;
  for (auto& slot : slots)
    if (!slot) {
      slot = std::make_unique<Slot>(model.config, options);
      return *slot;
    }
  // Every slot has been used: the least recently used idle one, keeping what it can.
  for (auto& slot : slots)
    if (!slot->seq && (best == nullptr || slot->last_used < best->last_used)) best = slot.get();
  keep = reusable_prefix(*best, request, model.config.hidden_size);
  return *best;  // the caller admits only while a slot is free
}

void Scheduler::State::start(Request request) {
  std::string problem = check_request(model.config, options.context_size, request.request);
  int64_t keep = 0;
  Slot* chosen = nullptr;
  if (problem.empty()) {
    try {
      chosen = &choose_slot(request.request, keep);
    } catch (const std::exception& e) {  // allocating a new slot's cache can fail
      problem = std::string("no KV cache for the request: ") + e.what();
    }
  }
  if (!problem.empty()) {
    {
      std::lock_guard lock(mutex);
      running_ids.erase(request.id);
      ++stats.requests_done;
    }
    GenerationResult result;
    result.prompt_tokens = static_cast<int64_t>(request.request.prompt.size());
    call_done(request, result, problem);
    return;
  }
  Slot& slot = *chosen;
  if (keep == 0) {
    slot.cache.clear();
    slot.cached.clear();
    slot.cached_scales = request.request.adapter_scales;
  } else if (keep < static_cast<int64_t>(slot.cached.size())) {
    slot.cache.truncate_to(keep);
    slot.cached.resize(static_cast<size_t>(keep));
  }
  // The cache will hold this prompt (a cancelled prefill leaves part of it: reuse then
  // still asks for the same media at the same place, whose cached rows are these).
  slot.cached_media = media_keys(request.request.media, model.config.hidden_size);
  slot.last_used = ++admissions;
  Running& s = slot.seq.emplace(std::move(request));
  if (tokenizer != nullptr) s.detokenizer.emplace(*tokenizer);
  s.result.prompt_tokens = static_cast<int64_t>(s.request.request.prompt.size());
  s.result.reused_tokens = keep;
  s.pending.assign(s.request.request.prompt.begin() + keep, s.request.request.prompt.end());
  s.prompt_offset = keep;
  ++running;
  count([&](SchedulerStats& st) {
    st.active = running;
    st.prompt_tokens += s.result.prompt_tokens;
    st.reused_tokens += keep;
  });
}

void Scheduler::State::step() {
  // What each sequence runs this step: decoding ones their one token, prefilling ones
  // (oldest first) a share of the prompt-token budget.
  std::vector<Work> work;
  std::vector<Slot*> prefilling;
  for (auto& slot : slots) {
    if (!slot || !slot->seq) continue;
    if (slot->seq->prefilling) {
      prefilling.push_back(slot.get());
      continue;
    }
    Running& s = *slot->seq;
    s.drafts = propose_drafts(*slot);
    Work w{slot.get(), {s.pending.begin(), s.pending.end()}};
    w.tokens.insert(w.tokens.end(), s.drafts.begin(), s.drafts.end());
    work.push_back(std::move(w));
  }
  std::sort(prefilling.begin(), prefilling.end(), [](Slot* a, Slot* b) { return a->last_used < b->last_used; });
  int64_t budget = options.prefill_chunk;
  for (Slot* slot : prefilling) {
    if (budget == 0) break;
    Running& s = *slot->seq;
    const int64_t left = static_cast<int64_t>(s.pending.size() - s.pending_done);
    const int64_t first = s.prompt_offset + static_cast<int64_t>(s.pending_done);
    const int64_t H = model.config.hidden_size;
    // At most the budget, but an image whose soft tokens see each other runs whole.
    const int64_t n =
        micro_batch_end(model.config, media_spans_in(s.request.request.media, first, first + left, H), 0, budget, left);
    budget = std::max<int64_t>(0, budget - n);
    const auto from = s.pending.begin() + static_cast<std::ptrdiff_t>(s.pending_done);
    work.push_back({slot, {from, from + n}, media_spans_in(s.request.request.media, first, first + n, H)});
  }

  // One forward pass per set of LoRA scales (usually just one): the weights are read once
  // for every sequence that shares the scales, and no sequence runs under another's.
  while (!work.empty()) {
    const std::vector<double> scales = work.front().slot->seq->request.request.adapter_scales;
    std::vector<Work> group, rest;
    for (Work& w : work)
      (w.slot->seq->request.request.adapter_scales == scales ? group : rest).push_back(std::move(w));
    run_group(group);
    work = std::move(rest);
  }
}

void Scheduler::State::run_group(std::vector<Work>& work) {
  std::vector<BatchSequence> batch;
  for (const Work& w : work) batch.push_back({&w.slot->cache, w.tokens, !w.slot->seq->drafts.empty(), w.media});
  std::vector<float> logits, hidden;
  try {
    const std::vector<double>& scales = work.front().slot->seq->request.request.adapter_scales;
    if (options.set_adapter_scales && applied_scales != scales) {
      applied_scales.reset();  // unknown if the setter throws half-way
      options.set_adapter_scales(scales);
      applied_scales = scales;
    }
    logits = forward_batch(model, batch, pool, options.drafter ? &hidden : nullptr);
  } catch (const std::exception& e) {
    // Ids and lengths were checked at admission, so this is an internal failure (e.g. out
    // of memory); the caches may be half written, so they are emptied.
    for (Work& w : work) {
      w.slot->cache.clear();
      w.slot->cached.clear();
      w.slot->cached_media.clear();
      finish(*w.slot, StopReason::Cancelled, std::string("generation failed: ") + e.what());
    }
    return;
  }
  const size_t V = static_cast<size_t>(model.config.vocab_size), H = static_cast<size_t>(model.config.hidden_size);
  size_t row = 0;  // this sequence's first row of logits (drafted sequences have one per token)
  for (size_t i = 0; i < work.size(); ++i) {
    Slot& slot = *work[i].slot;
    Running& s = *slot.seq;
    const size_t rows = s.drafts.empty() ? 1 : work[i].tokens.size();
    const float* hidden_rows = hidden.empty() ? nullptr : &hidden[row * H];
    slot.cached.insert(slot.cached.end(), work[i].tokens.begin(), work[i].tokens.end());
    if (!s.prefilling) ++s.result.forward_steps;
    if (!s.drafts.empty()) {
      verify(slot, work[i], &logits[row * V], hidden_rows);
    } else {
      s.pending_done += work[i].tokens.size();
      if (hidden_rows != nullptr) s.last_hidden.assign(hidden_rows, hidden_rows + H);
      if (s.pending_done == s.pending.size()) sample(slot, std::span<float>(&logits[row * V], V));
    }
    row += rows;
  }
}

std::vector<int32_t> Scheduler::State::propose_drafts(Slot& slot) {
  Running& s = *slot.seq;
  if (options.drafter == nullptr) return {};
  if (!s.draft_length) s.draft_length.emplace(options.draft_min, options.draft_max);
  // Within the answer's token limit (`pending` holds the token just sampled, already counted),
  // the context, and what the sliding-window rings can take back.
  const int64_t room = std::min<int64_t>({s.draft_length->next(), options.rewind_tokens,
                                          s.request.request.max_tokens - static_cast<int64_t>(s.result.tokens.size()),
                                          slot.cache.context_size() - slot.cache.n_past() - 1});
  if (room <= 0 || s.pending.size() != 1) return {};
  std::vector<int32_t> sequence = slot.cached;
  sequence.push_back(s.pending.front());
  std::vector<int32_t> drafts;
  try {
    drafts = options.drafter->propose_for(DraftInput{sequence, model, slot.cache, s.last_hidden}, static_cast<int>(room));
  } catch (const std::exception&) {
    return {};  // a drafter's failure costs only the speed-up
  }
  if (static_cast<int64_t>(drafts.size()) > room) drafts.resize(static_cast<size_t>(room));
  const auto bad = std::find_if(drafts.begin(), drafts.end(),
                                [&](int32_t id) { return id < 0 || id >= model.config.vocab_size; });
  drafts.erase(bad, drafts.end());
  return drafts;
}

// Row k of `rows` holds the model's logits after tokens[k]: its choice where drafts[k]
// stands. The longest agreeing prefix is kept, then the model's own token (its correction,
// or after all drafts the next one from the last row).
void Scheduler::State::verify(Slot& slot, const Work& work, float* rows, const float* hidden_rows) {
  Running& s = *slot.seq;
  const size_t V = static_cast<size_t>(model.config.vocab_size), H = static_cast<size_t>(model.config.hidden_size);
  const std::vector<int32_t> drafts = std::move(s.drafts);
  s.drafts.clear();
  const int64_t start = slot.cache.n_past() - static_cast<int64_t>(work.tokens.size());
  s.result.drafted_tokens += static_cast<int64_t>(drafts.size());
  size_t kept = 0;
  bool running = true;
  std::optional<int32_t> corrected;
  for (; kept < drafts.size(); ++kept) {
    const std::optional<int32_t> choice = choose(slot, std::span<float>(rows + kept * V, V), drafts[kept]);
    if (!choice) return;  // finished with an error; the slot's cache is emptied there
    if (*choice != drafts[kept]) {
      corrected = choice;
      break;
    }
    ++s.result.accepted_tokens;
    // The cache holds, as far as this token is concerned, `next` and the drafts before it.
    if (!emit(slot, *choice, start + 1 + static_cast<int64_t>(kept))) {
      running = false;
      ++kept;
      break;
    }
  }
  if (s.draft_length) s.draft_length->record(static_cast<int64_t>(drafts.size()), static_cast<int64_t>(kept));
  // The cache keeps the sampled token and the accepted drafts; as without drafting, a token
  // that ended the request is not counted as run.
  const int64_t keep = start + 1 + static_cast<int64_t>(kept) - (running ? 0 : 1);
  slot.cache.truncate_to(keep);
  slot.cached.resize(static_cast<size_t>(keep));
  if (!running) return;
  if (hidden_rows != nullptr) s.last_hidden.assign(hidden_rows + kept * H, hidden_rows + (kept + 1) * H);
  if (corrected) {
    emit(slot, *corrected);
  } else {
    s.pending_done = 1;
    s.pending.assign(1, drafts.back());
    sample(slot, std::span<float>(rows + drafts.size() * V, V));
  }
}

void Scheduler::State::sample(Slot& slot, std::span<float> logits) {
  Running& s = *slot.seq;
  const SequenceRequest& r = s.request.request;
  if (s.prefilling) {
    s.result.prefill_seconds = seconds_since(s.phase_start);
    s.prefilling = false;
    s.phase_start = Clock::now();
  }
  if (static_cast<int64_t>(s.result.tokens.size()) >= r.max_tokens) return finish(slot, StopReason::MaxTokens);
  if (const std::optional<int32_t> next = choose(slot, logits, std::nullopt)) emit(slot, *next);
}

// The token for one row of logits: penalties and the request's filter applied, then sampled
// (or, with a draft, the draft kept or replaced by the acceptance rule); its log-probability
// reported. nullopt when sampling failed (the sequence is finished then).
std::optional<int32_t> Scheduler::State::choose(Slot& slot, std::span<float> logits, std::optional<int32_t> draft) {
  Running& s = *slot.seq;
  const SequenceRequest& r = s.request.request;
  int32_t next = 0;
  try {
    if (has_logit_adjustments(r.sampling)) apply_penalties(r.sampling, r.prompt, s.result.tokens, logits);
    if (r.logit_filter) r.logit_filter(logits, s.result.tokens);
    next = draft ? s.sampler.accept_or_resample(logits.data(), model.config.vocab_size, *draft)
                 : s.sampler.sample(logits.data(), model.config.vocab_size);
    if (r.top_logprobs >= 0 && r.on_logprob &&
        std::find(r.stop_ids.begin(), r.stop_ids.end(), next) == r.stop_ids.end())
      r.on_logprob(token_logprob(logits, next, r.top_logprobs));
  } catch (const std::exception& e) {
    slot.cache.clear();
    slot.cached.clear();
    slot.cached_media.clear();
    finish(slot, StopReason::Cancelled, std::string("sampling failed: ") + e.what());
    return std::nullopt;
  }
  return next;
}

// Adds a chosen token to the answer and streams it; false when that ends the request.
bool Scheduler::State::emit(Slot& slot, int32_t next, int64_t cached_positions) {
  Running& s = *slot.seq;
  const SequenceRequest& r = s.request.request;
  s.result.tokens.push_back(next);
  count([](SchedulerStats& st) { ++st.generated_tokens; });
  if (std::find(r.stop_ids.begin(), r.stop_ids.end(), next) != r.stop_ids.end()) {
    s.result.stop_token = next;
    finish(slot, StopReason::StopToken);
    return false;
  }
  if (s.request.on_token) {
    // A model whose vocabulary is larger than its tokenizer's can sample ids the
    // tokenizer cannot show; they stream as empty text.
    bool keep_going = true;
    try {
      const bool shown = s.detokenizer && next < tokenizer->vocab_size();
      keep_going = s.request.on_token(next, shown ? s.detokenizer->feed(next) : std::string());
    } catch (const std::exception& e) {
      finish(slot, StopReason::Cancelled, std::string("token callback failed: ") + e.what());
      return false;
    }
    if (!keep_going) {
      finish(slot, StopReason::Cancelled);
      return false;
    }
  }
  if (static_cast<int64_t>(s.result.tokens.size()) == r.max_tokens) {
    finish(slot, StopReason::MaxTokens);
    return false;
  }
  if ((cached_positions >= 0 ? cached_positions : slot.cache.n_past()) >= slot.cache.context_size()) {
    finish(slot, StopReason::ContextFull);
    return false;
  }
  s.pending.assign(1, next);
  s.pending_done = 0;
  return true;
}

void Scheduler::State::finish(Slot& slot, StopReason reason, const std::string& error) {
  Running s = std::move(*slot.seq);
  slot.seq.reset();
  --running;
  s.result.stop_reason = reason;
  if (s.prefilling) s.result.prefill_seconds = seconds_since(s.phase_start);
  else s.result.decode_seconds = seconds_since(s.phase_start);
  // A character still incomplete at the end is shown as U+FFFD (as Generator does);
  // a stream the client cancelled gets nothing more.
  if (reason != StopReason::Cancelled && error.empty() && s.detokenizer && s.request.on_token) {
    if (std::string rest = s.detokenizer->flush(); !rest.empty()) {
      try {
        s.request.on_token(-1, rest);
      } catch (...) {
      }
    }
  }
  {
    std::lock_guard lock(mutex);
    running_ids.erase(s.request.id);
    cancel_ids.erase(s.request.id);
    stats.active = running;
    ++stats.requests_done;
  }
  call_done(s.request, s.result, error);
}

}  // namespace facet
