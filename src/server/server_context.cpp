#include "server/server_context.h"

#include <httplib.h>

#include <cmath>

#include "chat/render.h"
#include "chat/render_request.h"
#include "model/forward.h"
#include "model/kv_cache.h"
#include "server/lora_adapters.h"
#include "train/adapter_runtime.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace facet::server {

UsedModel use_model(ServerContext& ctx, const Json& body) {
  const std::optional<std::string> name = get_string(body, "model");
  if (!name || name->empty()) throw_http(400, "model is required");
  const ModelEntry entry = ctx.registry.find(*name);
  UsedModel used;
  used.requested_name = *name;
  try {
    used.model = ctx.registry.acquire(entry, &used.load_seconds);
  } catch (const Error& e) {
    throw_http(500, "model '" + *name + "' could not be loaded: " + e.what());
  }
  return used;
}

void finish_model_use(ServerContext& ctx, const UsedModel& used, const Json& body) {
  double keep = ctx.options.keep_alive_seconds;
  if (const Json* k = get_field(body, "keep_alive")) keep = parse_keep_alive(*k);
  ctx.registry.touch(used.model->entry.name, keep);
  if (keep == 0) ctx.registry.sweep();
}

std::vector<int32_t> render_chat_prompt(ServerContext& ctx, LoadedModel& model, const Json& body, bool* thinking,
                                        std::vector<PromptMedia>* media) {
  chat::RenderRequest request = chat::render_request_from_json(body, {.keep_media = true});
  const std::vector<PromptMediaPart> items = prompt_media(request);
  request.enable_thinking = chat::thinking_requested(body, ctx.options.think_default);
  request.add_generation_prompt = true;
  if (thinking) *thinking = request.enable_thinking;
  // The rendered text starts with "<bos>", so the tokenizer adds no BOS of its own.
  std::vector<int32_t> tokens = model.tokenizer.encode(chat::render_chat(request, model.rules));
  if (items.empty()) return tokens;
  MediaCounts counts;
  MediaPrompt expanded = add_prompt_media(std::move(tokens), items, model.media.get(), model.tokenizer,
                                          model.model->config.hidden_size, model.entry.name,
                                          ctx.options.image_tokens, &counts);
  ctx.metrics.images_encoded += counts.images_encoded;
  ctx.metrics.images_reused += counts.images_reused;
  ctx.metrics.audio_encoded += counts.audio_encoded;
  ctx.metrics.audio_reused += counts.audio_reused;
  *media = std::move(expanded.media);
  return std::move(expanded.tokens);
}

std::vector<int32_t> raw_prompt(LoadedModel& model, const std::string& text) {
  EncodeOptions with_bos;
  with_bos.add_bos = true;
  return model.tokenizer.encode(text, with_bos);
}

std::vector<float> embed_text(ServerContext& ctx, LoadedModel& model, const std::string& text, bool normalize,
                              bool truncate, int64_t* token_count) {
  std::vector<int32_t> tokens = raw_prompt(model, text);
  if (static_cast<int64_t>(tokens.size()) > model.context_size) {
    if (!truncate)
      throw_http(400, "the input (" + std::to_string(tokens.size()) + " tokens) is longer than the context of " +
                          std::to_string(model.context_size) + " tokens",
                 "context_length_exceeded");
    tokens.resize(static_cast<size_t>(model.context_size));
  }
  if (token_count) *token_count = static_cast<int64_t>(tokens.size());
  std::vector<float> hidden;
  // On the scheduler's worker, between two generation steps: a step may be changing the
  // model's LoRA scales, and embeddings use the server-wide ones.
  model.scheduler->run_between_steps([&](ThreadPool& pool) {
    if (model.loras) train::set_adapter_scales(*model.model, model.loras->scales());
    KvCache cache(model.model->config, static_cast<int64_t>(tokens.size()));
    hidden = forward_hidden_states(*model.model, cache, tokens, pool);
  });
  const int64_t H = model.model->config.hidden_size, n = static_cast<int64_t>(tokens.size());
  std::vector<double> sum(static_cast<size_t>(H), 0.0);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < H; ++i) sum[static_cast<size_t>(i)] += hidden[static_cast<size_t>(t * H + i)];
  double norm = 0;
  for (double& v : sum) {
    v /= static_cast<double>(n);
    norm += v * v;
  }
  norm = std::sqrt(norm);
  std::vector<float> out(static_cast<size_t>(H));
  for (int64_t i = 0; i < H; ++i)
    out[static_cast<size_t>(i)] =
        static_cast<float>(normalize && norm > 0 ? sum[static_cast<size_t>(i)] / norm : sum[static_cast<size_t>(i)]);
  ctx.metrics.embeddings += 1;
  ctx.metrics.prompt_tokens += n;
  return out;
}

void record_generation(ServerContext& ctx, const JobResult& r) {
  ctx.metrics.generations += 1;
  ctx.metrics.prompt_tokens += r.prompt_tokens;
  ctx.metrics.generated_tokens += r.completion_tokens;
  ctx.metrics.prompt_seconds.fetch_add(r.prefill_seconds);
  ctx.metrics.generation_seconds.fetch_add(r.decode_seconds);
}

void guarded(Api api, httplib::Response& res, const std::function<void()>& body) {
  try {
    body();
  } catch (const HttpError& e) {
    send_error(api, res, e.status, e.message, e.code);
  } catch (const Error& e) {
    send_error(api, res, 400, e.what());
  } catch (const nlohmann::json::exception& e) {
    send_error(api, res, 400, std::string("invalid request: ") + e.what());
  } catch (const std::exception& e) {
    send_error(api, res, 500, std::string("internal error: ") + e.what());
  }
}

void stream_job(ServerContext& ctx, httplib::Response& res, std::unique_ptr<GenerationJob> job_in,
                const std::string& content_type, StreamFormat format, std::function<void()> on_finish) {
  std::shared_ptr<GenerationJob> job(std::move(job_in));
  ctx.metrics.streaming_now += 1;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");  // proxies (nginx) must not buffer the stream
  res.set_chunked_content_provider(
      content_type,
      [&ctx, job, format](size_t, httplib::DataSink& sink) {
        auto write = [&sink](const std::string& s) { return s.empty() || sink.write(s.data(), s.size()); };
        JobOutput out;
        auto last_write = std::chrono::steady_clock::now();
        while (true) {
          const GenerationJob::Poll p = job->poll(out, std::chrono::milliseconds(250));
          if (p == GenerationJob::Poll::Output) {
            if (!write(format.piece(out))) return false;  // the client went away: cancel
            last_write = std::chrono::steady_clock::now();
          } else if (p == GenerationJob::Poll::Finished) {
            const JobResult result = job->result();
            record_generation(ctx, result);
            if (!write(format.end(result))) return false;
            sink.done();
            return true;
          } else if (!format.keepalive.empty() &&
                     std::chrono::steady_clock::now() - last_write > std::chrono::seconds(2)) {
            if (!write(format.keepalive)) return false;
            last_write = std::chrono::steady_clock::now();
          } else if (sink.is_writable && !sink.is_writable()) {
            return false;
          }
        }
      },
      [&ctx, job, on_finish](bool) {
        job->cancel();  // no-op when it finished; frees the slot when the client left
        ctx.metrics.streaming_now -= 1;
        if (on_finish) on_finish();
      });
}

}  // namespace facet::server
