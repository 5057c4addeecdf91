// facet info MODEL [--ctx-size N]: what was loaded — variant shape, layers, dtypes,
// sizes and the memory plan (mapped weights + KV cache).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "cli/command.h"
#include "cli/generation_flags.h"
#include "cli/model_summary.h"
#include "model/memory_plan.h"
#include "model/kv_cache.h"
#include "model/model.h"
#include "model/tensor_manifest.h"

namespace facet::cli {
namespace {

struct InfoArgs {
  std::string model;
  int64_t ctx_size = 4096;
  std::string cache_type_k = "f16", cache_type_v = "f16";
  int64_t batch = 512;
  int threads = 0;
};

int run_info(const InfoArgs& args) {
  auto t0 = std::chrono::steady_clock::now();
  auto model = load_model(args.model);
  double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const ModelConfig& c = model->config;

  int sliding = 0, full = 0, owning = 0;
  for (const auto& l : c.layers) {
    (l.kind == LayerKind::Sliding ? sliding : full)++;
    owning += l.owns_kv;
  }
  std::printf("model:        %s\n", model->path.c_str());
  std::printf("format:       %s, %s (loaded in %.3f s)\n", model->source->format().c_str(),
              human_bytes(static_cast<double>(model->source->file_bytes())).c_str(), load_s);
  if (!c.name.empty()) std::printf("name:         %s\n", c.name.c_str());
  std::printf("architecture: gemma4, %s\n", c.shape_family().c_str());
  std::printf("vocab:        %d\n", c.vocab_size);
  std::printf("hidden:       %d, %d query heads\n", c.hidden_size, c.n_heads);
  std::printf("layers:       %d (%d sliding, window %d; %d full)\n", c.n_layers, sliding, c.sliding_window, full);
  for (LayerKind kind : {LayerKind::Sliding, LayerKind::Full}) {
    for (const auto& l : c.layers)
      if (l.kind == kind) {
        const RopeConfig& r = c.rope(kind);
        std::printf("  %-8s    head size %d, %d KV heads%s, RoPE theta %g rotating %d of %d pairs\n",
                    layer_kind_name(kind), l.head_dim, l.n_kv_heads, l.k_eq_v ? ", K=V" : "", r.theta,
                    r.rotated_pairs, r.head_dim / 2);
        break;
      }
  }
  std::printf("KV sharing:   %d layers own KV", owning);
  if (c.n_kv_shared_layers > 0) std::printf(", layers %d-%d borrow it", c.first_shared_layer(), c.n_layers - 1);
  std::printf("\n");
  std::printf("MLP widths:   ");
  for (size_t i = 0; i < c.layers.size(); ++i)
    if (i == 0 || c.layers[i].ffn_width != c.layers[i - 1].ffn_width)
      std::printf("%slayers %zu+: %d", i ? ", " : "", i, c.layers[i].ffn_width);
  std::printf("\n");
  if (c.has_moe()) std::printf("MoE:          %d experts, top %d, width %d (beside the dense MLP)\n", c.n_experts, c.n_experts_used, c.expert_ffn_width);
  if (c.has_ple()) std::printf("per-layer embeddings: %d per layer, table %d x %d\n", c.ple_dim, c.ple_vocab, c.ple_dim * c.n_layers);
  std::printf("soft-cap:     %g, embedding scale %.6g\n", c.final_logit_softcap, model->embedding_scale);

  std::map<std::string, std::pair<int, uint64_t>> by_type;
  uint64_t weight_bytes = 0;
  for (const TensorSpec& spec : tensor_manifest(c)) {
    const TensorView* t = model->source->find(spec.gguf_name);
    if (!t) continue;
    auto& entry = by_type[std::string(dtype_name(t->dtype))];
    entry.first++;
    entry.second += t->byte_size();
    weight_bytes += t->byte_size();
  }
  std::printf("tensors:     ");
  for (const auto& [name, e] : by_type) std::printf(" %s x%d (%s)", name.c_str(), e.first, human_bytes(static_cast<double>(e.second)).c_str());
  std::printf("\n");
  const KvCacheTypes types = cache_types(args.cache_type_k, args.cache_type_v);
  const int64_t context = std::min<int64_t>(args.ctx_size, c.max_context > 0 ? c.max_context : args.ctx_size);
  const uint64_t kv_bytes = KvCache::planned_bytes(c, context, 0, types);  // nothing allocated
  // The per-layer-embedding table (E2B/E4B) is read a row per token straight from the map,
  // so only the rows of tokens actually seen become resident.
  const TensorView* ple_table = model->source->find("per_layer_token_embd.weight");
  std::printf("memory plan:  weights %s memory-mapped (read on demand, not copied)\n", human_bytes(static_cast<double>(weight_bytes)).c_str());
  if (ple_table != nullptr)
    std::printf("              of which the per-layer embedding table %s: read row by row, only seen tokens' rows resident\n",
                human_bytes(static_cast<double>(ple_table->byte_size())).c_str());
  std::printf("              KV cache %s for %lld tokens (K %s, V %s; sliding layers hold %d positions)\n",
              human_bytes(static_cast<double>(kv_bytes)).c_str(), static_cast<long long>(context),
              kv_cache_type_name(types.k).c_str(), kv_cache_type_name(types.v).c_str(), c.sliding_window);
  const int threads = args.threads > 0 ? args.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const ComputeEstimate compute = estimate_compute(c, args.batch, context, threads);
  std::printf("              compute buffers about %s (activations of a %lld-token micro-batch on %d threads, "
              "estimate; freed after each forward)\n",
              human_bytes(static_cast<double>(compute.total())).c_str(), static_cast<long long>(args.batch), threads);
  std::printf("              total besides the mapped weights: about %s (%llu bytes KV + %llu bytes compute)\n",
              human_bytes(static_cast<double>(kv_bytes + compute.total())).c_str(),
              static_cast<unsigned long long>(kv_bytes), static_cast<unsigned long long>(compute.total()));
  return 0;
}

const CommandRegistration kRegistration("info", [](CLI::App& app) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* cmd = app.add_subcommand("info", "Describe a model: shape, layers, types, memory");
  cmd->add_option("model", args->model, "A .gguf file or a Hugging Face model folder")->required();
  cmd->add_option("-c,--ctx-size", args->ctx_size, "Context size for the KV cache estimate")->check(CLI::PositiveNumber);
  add_cache_type_flags(*cmd, args->cache_type_k, args->cache_type_v);
  cmd->add_option("-b,--batch-size", args->batch, "Micro-batch size for the compute estimate")->check(CLI::PositiveNumber);
  cmd->add_option("-t,--threads", args->threads, "Threads for the compute estimate (default: all cores)");
  return [args] { return run_info(*args); };
});

}  // namespace
}  // namespace facet::cli
