// Gemma 4 drafters ("assistant" models, model/assistant.h):
//   - one draft step, and a chain of them, against a float64 reference written here from
//     spec §8 (pre-projection of [scaled target embedding, hidden], q-only layers over the
//     target's cache with RoPE at the anchor position and the sliding window, GeGLU,
//     sandwich norms, layer scalar, final norm, tied head, centroid-masked head,
//     post-projection), on random drafters of the shared tiny E2B-like model's shapes;
//   - the GGUF file and the HF folder of one drafter give the same numbers;
//   - speculative decoding with the drafter leaves greedy output token for token as
//     without it (f32 and f16 KV caches);
//   - drafters made for another model, truncated files and a bad token ordering are clear errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "engine/draft.h"
#include "engine/generation.h"
#include "model/assistant.h"
#include "model/forward.h"
#include "support/drafters.h"
#include "support/error_text.h"
#include "support/paths.h"
#include "support/temp_dir.h"
#include "tensor/convert.h"
#include "util/thread_pool.h"

namespace facet {
namespace {

std::string target_path() { return test::data_dir() + "/models/gemma4-tiny-e2b-like-f32.gguf"; }

// A drafter for `target`: three layers (sliding, full, sliding) of width 48.
AssistantConfig drafter_for(const ModelConfig& target, bool ordered) {
  AssistantConfig a = test::assistant_config_for(target, {LayerKind::Sliding, LayerKind::Full, LayerKind::Sliding}, 48);
  a.ordered_embeddings = ordered;
  a.n_centroids = ordered ? 16 : 0;
  a.centroid_top_k = ordered ? 3 : 0;
  return a;
}

// ---- float64 reference ----------------------------------------------------------------

using Vec = std::vector<double>;

Vec values(const TensorView& t) {
  std::vector<float> f(static_cast<size_t>(t.numel()));
  row_to_f32(t.dtype, t.data, f.data(), t.numel());
  return Vec(f.begin(), f.end());
}
Vec values(const WeightMatrix& m) {
  std::vector<float> f(static_cast<size_t>(m.rows * m.cols));
  row_to_f32(m.dtype, m.data, f.data(), m.rows * m.cols);
  return Vec(f.begin(), f.end());
}
Vec mat_vec(const Vec& w, int64_t rows, const Vec& x) {
  const int64_t cols = static_cast<int64_t>(x.size());
  Vec y(static_cast<size_t>(rows), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) y[static_cast<size_t>(r)] += w[static_cast<size_t>(r * cols + c)] * x[static_cast<size_t>(c)];
  return y;
}
Vec rms_norm(const Vec& x, const std::vector<float>& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double inv = 1.0 / std::sqrt(ss / static_cast<double>(x.size()) + eps);
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * w[i];
  return y;
}
double gelu_tanh(double z) { return 0.5 * z * (1 + std::tanh(std::sqrt(2 / M_PI) * (z + 0.044715 * z * z * z))); }

// NeoX ("rotate half") RoPE of one head at `position`: pair i = dims (i, i + D/2), turning
// at theta^(-2i/D) / factor_i for the rotated pairs only.
void rope(double* head, const RopeConfig& r, int64_t position) {
  const int half = r.head_dim / 2;
  for (int i = 0; i < r.rotated_pairs; ++i) {
    const double angle = static_cast<double>(position) * std::pow(r.theta, -2.0 * i / r.head_dim) /
                         r.freq_factors[static_cast<size_t>(i)];
    const double x0 = head[i], x1 = head[i + half];
    head[i] = x0 * std::cos(angle) - x1 * std::sin(angle);
    head[i + half] = x1 * std::cos(angle) + x0 * std::sin(angle);
  }
}

struct Reference {
  Vec logits, hidden;
};

Reference reference_step(const AssistantModel& a, const Model& target, const KvCache& cache, int32_t token,
                         const Vec& hidden, int64_t position) {
  const AssistantConfig& c = a.config;
  const int64_t H = c.hidden_size, Hb = c.backbone_hidden_size;
  // [target embedding × √Hb, hidden]
  Vec input(static_cast<size_t>(2 * Hb));
  {
    std::vector<float> row(static_cast<size_t>(Hb));
    row_to_f32(target.weights.token_embd.dtype, target.weights.token_embd.row(token), row.data(), Hb);
    for (int64_t i = 0; i < Hb; ++i) input[static_cast<size_t>(i)] = row[static_cast<size_t>(i)] * std::sqrt(static_cast<double>(Hb));
    std::copy(hidden.begin(), hidden.end(), input.begin() + Hb);
  }
  Vec x = mat_vec(values(a.weights.pre_projection), H, input);
  for (int layer = 0; layer < c.n_layers; ++layer) {
    const LayerConfig& lc = c.layers[static_cast<size_t>(layer)];
    const AssistantLayerWeights& w = a.weights.layers[static_cast<size_t>(layer)];
    const int64_t D = lc.head_dim;
    Vec q = mat_vec(values(w.q), c.n_heads * D, rms_norm(x, w.attn_norm, c.rms_eps));
    for (int h = 0; h < c.n_heads; ++h) {
      Vec head(q.begin() + h * D, q.begin() + (h + 1) * D);
      head = rms_norm(head, w.q_norm, c.rms_eps);
      rope(head.data(), c.rope(lc.kind), position);
      std::copy(head.begin(), head.end(), q.begin() + h * D);
    }
    // The target's last KV-owning layer of this kind.
    int source = -1;
    for (int j = 0; j < target.config.n_layers; ++j)
      if (target.config.layers[static_cast<size_t>(j)].owns_kv && target.config.layers[static_cast<size_t>(j)].kind == lc.kind) source = j;
    const KvCache::Layer& kv = cache.layer(source);
    const int n_kv = target.config.layers[static_cast<size_t>(source)].n_kv_heads;
    const int64_t first = lc.kind == LayerKind::Sliding ? std::max<int64_t>(0, position - c.sliding_window + 1) : 0;
    Vec attn(static_cast<size_t>(c.n_heads * D), 0.0);
    for (int h = 0; h < c.n_heads; ++h) {
      const int g = h / (c.n_heads / n_kv);
      Vec scores;
      for (int64_t p = first; p <= position; ++p) {
        const float* k = reinterpret_cast<const float*>(kv.k_row(KvCache::slot(kv, p))) + g * D;
        double s = 0;
        for (int64_t d = 0; d < D; ++d) s += q[static_cast<size_t>(h * D + d)] * k[d];
        scores.push_back(s);
      }
      const double top = *std::max_element(scores.begin(), scores.end());
      double sum = 0;
      for (double& s : scores) sum += (s = std::exp(s - top));
      for (int64_t p = first; p <= position; ++p) {
        const float* v = reinterpret_cast<const float*>(kv.v_row(KvCache::slot(kv, p))) + g * D;
        for (int64_t d = 0; d < D; ++d) attn[static_cast<size_t>(h * D + d)] += scores[static_cast<size_t>(p - first)] / sum * v[d];
      }
    }
    Vec o = rms_norm(mat_vec(values(w.o), H, attn), w.post_attn_norm, c.rms_eps);
    for (int64_t i = 0; i < H; ++i) x[static_cast<size_t>(i)] += o[static_cast<size_t>(i)];
    const Vec u = rms_norm(x, w.ffn_norm, c.rms_eps);
    const Vec gate = mat_vec(values(w.gate), lc.ffn_width, u), up = mat_vec(values(w.up), lc.ffn_width, u);
    Vec act(gate.size());
    for (size_t i = 0; i < act.size(); ++i) act[i] = gelu_tanh(gate[i]) * up[i];
    const Vec f = rms_norm(mat_vec(values(w.down), H, act), w.post_ffw_norm, c.rms_eps);
    for (int64_t i = 0; i < H; ++i) x[static_cast<size_t>(i)] = (x[static_cast<size_t>(i)] + f[static_cast<size_t>(i)]) * w.layer_scalar;
  }
  const Vec n = rms_norm(x, a.weights.output_norm, c.rms_eps);
  Reference r;
  r.hidden = mat_vec(values(a.weights.post_projection), Hb, n);
  const Vec all = mat_vec(values(a.weights.token_embd), c.vocab_size, n);
  if (!c.ordered_embeddings) {
    r.logits = all;
    return r;
  }
  const Vec centroid = mat_vec(values(a.weights.centroids), c.n_centroids, n);
  std::vector<int> order(static_cast<size_t>(c.n_centroids));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int i, int j) { return centroid[static_cast<size_t>(i)] > centroid[static_cast<size_t>(j)]; });
  const int per = c.vocab_size / c.n_centroids;
  std::vector<int32_t> chosen;
  for (int k = 0; k < c.centroid_top_k; ++k)
    for (int i = 0; i < per; ++i) chosen.push_back(a.weights.token_ordering[static_cast<size_t>(order[static_cast<size_t>(k)] * per + i)]);
  double low = INFINITY;
  for (int32_t id : chosen) low = std::min(low, all[static_cast<size_t>(id)]);
  r.logits.assign(static_cast<size_t>(c.vocab_size), low - 1.0);
  for (int32_t id : chosen) r.logits[static_cast<size_t>(id)] = all[static_cast<size_t>(id)];
  return r;
}

double max_rel_diff(const std::vector<float>& got, const Vec& want) {
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i)
    worst = std::max(worst, std::abs(got[i] - want[i]) / std::max(1.0, std::abs(want[i])));
  return worst;
}

// The target model with a prompt in an f32 cache and its last hidden state.
struct TargetState {
  std::unique_ptr<Model> model = load_model(target_path());
  KvCache cache{model->config, 64, 0, KvCacheTypes{}};
  std::vector<float> hidden;
  std::vector<int32_t> prompt = {2, 313, 333, 290, 301, 277, 350, 420, 312, 260, 388, 313, 333, 290};
  TargetState() {
    ThreadPool pool(2);
    forward(*model, cache, prompt, LogitsFor::LastToken, pool, 512, &hidden);
  }
};

TEST(Assistant, DraftStepsMatchTheFloat64Reference) {
  TargetState target;
  ThreadPool pool(2);
  test::TempDir dir;
  for (bool ordered : {false, true}) {
    SCOPED_TRACE(ordered ? "centroid head" : "full head");
    GeneratorOptions options;
    options.seed = 11;
    const std::string path = dir.file(ordered ? "ordered.gguf" : "plain.gguf");
    write_random_assistant_gguf(drafter_for(target.model->config, ordered), options, path);
    auto drafter = load_assistant(path);
    check_assistant_fits(*drafter, target.model->config);
    const int64_t anchor = target.cache.n_past() - 1;
    // The sliding layers must see only their window: the prompt is longer than it.
    ASSERT_GT(anchor + 1, drafter->config.sliding_window);

    std::vector<float> hidden = target.hidden;
    Vec ref_hidden(hidden.begin(), hidden.end());
    int32_t token = 17, ref_token = 17;
    for (int step = 0; step < 3; ++step) {  // a chain: each step feeds back its own hidden state
      SCOPED_TRACE("step " + std::to_string(step));
      const AssistantStepResult got = assistant_step(*drafter, *target.model, target.cache, token, hidden, anchor, pool);
      const Reference want = reference_step(*drafter, *target.model, target.cache, ref_token, ref_hidden, anchor);
      EXPECT_LT(max_rel_diff(got.logits, want.logits), 1e-4);
      EXPECT_LT(max_rel_diff(got.hidden, want.hidden), 1e-4);
      token = argmax(got.logits.data(), static_cast<int64_t>(got.logits.size()));
      ref_token = static_cast<int32_t>(std::max_element(want.logits.begin(), want.logits.end()) - want.logits.begin());
      EXPECT_EQ(token, ref_token);
      hidden = got.hidden;
      ref_hidden = want.hidden;
    }
  }
}

TEST(Assistant, GgufAndHfFolderHoldTheSameDrafter) {
  TargetState target;
  ThreadPool pool(2);
  test::TempDir dir;
  GeneratorOptions options;
  options.seed = 5;
  options.dtype = DType::BF16;
  const AssistantConfig config = drafter_for(target.model->config, true);
  write_random_assistant_gguf(config, options, dir.file("d.gguf"));
  write_random_assistant_hf(config, options, dir.file("d-hf"));
  EXPECT_TRUE(is_assistant_model(dir.file("d.gguf")));
  EXPECT_TRUE(is_assistant_model(dir.file("d-hf")));
  EXPECT_FALSE(is_assistant_model(target_path()));
  EXPECT_FALSE(is_assistant_model(dir.file("missing.gguf")));
  auto gguf = load_assistant(dir.file("d.gguf"));
  auto hf = load_assistant(dir.file("d-hf"));
  EXPECT_EQ(gguf->weights.token_ordering, hf->weights.token_ordering);
  const int64_t anchor = target.cache.n_past() - 1;
  const AssistantStepResult a = assistant_step(*gguf, *target.model, target.cache, 40, target.hidden, anchor, pool);
  const AssistantStepResult b = assistant_step(*hf, *target.model, target.cache, 40, target.hidden, anchor, pool);
  EXPECT_EQ(a.logits, b.logits);
  EXPECT_EQ(a.hidden, b.hidden);
}

TEST(Assistant, GreedyOutputIsUnchangedWithTheDrafter) {
  auto model = load_model(target_path());
  test::TempDir dir;
  write_random_assistant_gguf(drafter_for(model->config, true), GeneratorOptions{}, dir.file("d.gguf"));
  auto assistant = load_assistant(dir.file("d.gguf"));
  const std::vector<int32_t> prompt = {2, 313, 333, 290, 301, 277, 350, 420, 312, 260};
  for (KvCacheTypes types : {KvCacheTypes{}, kDefaultKvCacheTypes}) {
    SCOPED_TRACE(kv_cache_type_name(types.k));
    GenerationOptions options;
    options.max_tokens = 40;
    Generator plain(*model, nullptr, 128, 2, 8, types);
    const GenerationResult want = plain.generate(prompt, options);
    AssistantDrafter drafter(*assistant, model->config, 2);
    options.drafter = &drafter;
    options.draft_max = 4;
    Generator drafted(*model, nullptr, 128, 2, 8, types);
    const GenerationResult got = drafted.generate(prompt, options);
    EXPECT_EQ(got.tokens, want.tokens);
    EXPECT_EQ(drafted.cached_tokens(), plain.cached_tokens());
    EXPECT_GT(got.drafted_tokens, 0);  // the drafter was really asked
    // A second request on the same generator (prefix reuse, hidden state from prefill).
    std::vector<int32_t> next = prompt;
    next.insert(next.end(), want.tokens.begin(), want.tokens.begin() + 5);
    options.max_tokens = 12;
    GenerationOptions plain_options = options;
    plain_options.drafter = nullptr;
    EXPECT_EQ(drafted.generate(next, options).tokens, plain.generate(next, plain_options).tokens);
  }
}

TEST(Assistant, DrafterForAnotherModelIsAClearError) {
  auto model = load_model(target_path());
  test::TempDir dir;
  AssistantConfig wide = drafter_for(model->config, false);
  wide.backbone_hidden_size = model->config.hidden_size * 2;
  write_random_assistant_gguf(wide, GeneratorOptions{}, dir.file("wide.gguf"));
  EXPECT_NE(test::error_of([&] { check_assistant_fits(*load_assistant(dir.file("wide.gguf")), model->config); })
                .find("expects a main model of width"),
            std::string::npos);

  AssistantConfig other_vocab = drafter_for(model->config, false);
  other_vocab.vocab_size = 1024;
  write_random_assistant_gguf(other_vocab, GeneratorOptions{}, dir.file("vocab.gguf"));
  EXPECT_NE(test::error_of([&] { AssistantDrafter d(*load_assistant(dir.file("vocab.gguf")), model->config, 1); })
                .find("vocabulary has 1024 tokens"),
            std::string::npos);

  AssistantConfig heads = drafter_for(model->config, false);
  heads.layers[1].head_dim = heads.rope_full.head_dim = model->config.rope_full.head_dim * 2;
  write_random_assistant_gguf(heads, GeneratorOptions{}, dir.file("heads.gguf"));
  EXPECT_NE(test::error_of([&] { check_assistant_fits(*load_assistant(dir.file("heads.gguf")), model->config); })
                .find("cannot read main-model layer"),
            std::string::npos);

  // A drafter is not a model that runs alone, and a model is not a drafter.
  EXPECT_NE(test::error_of([&] { load_model(dir.file("wide.gguf")); }).find("draft (assistant) model"), std::string::npos);
  EXPECT_NE(test::error_of([&] { load_assistant(target_path()); }).find("not a Gemma 4 drafter"), std::string::npos);
}

TEST(Assistant, DamagedFilesAreClearErrors) {
  auto model = load_model(target_path());
  test::TempDir dir;
  write_random_assistant_gguf(drafter_for(model->config, true), GeneratorOptions{}, dir.file("d.gguf"));
  std::vector<uint8_t> bytes = test::read_bytes(dir.file("d.gguf"));
  bytes.resize(bytes.size() / 2);
  test::write_bytes(dir.file("cut.gguf"), bytes);
  EXPECT_NE(test::error_of([&] { load_assistant(dir.file("cut.gguf")); }).find("cut.gguf"), std::string::npos);

  // An HF folder whose token ordering repeats an id.
  write_random_assistant_hf(drafter_for(model->config, true), GeneratorOptions{}, dir.file("hf"));
  std::vector<uint8_t> st = test::read_bytes(dir.file("hf/model.safetensors"));
  auto loaded = load_assistant(dir.file("hf"));
  const std::vector<int32_t>& ordering = loaded->weights.token_ordering;
  // Find the I64 bytes of ordering[1] and overwrite them with ordering[0].
  const int64_t first = ordering[0], second = ordering[1];
  bool patched = false;
  for (size_t i = 0; i + 16 <= st.size() && !patched; i += 8) {
    int64_t a, b;
    std::memcpy(&a, &st[i], 8);
    std::memcpy(&b, &st[i + 8], 8);
    if (a == first && b == second) {
      std::memcpy(&st[i + 8], &first, 8);
      patched = true;
    }
  }
  ASSERT_TRUE(patched);
  loaded.reset();
  test::write_bytes(dir.file("hf/model.safetensors"), st);
  EXPECT_NE(test::error_of([&] { load_assistant(dir.file("hf")); }).find("not a permutation"), std::string::npos);
}

TEST(Assistant, ShippedDrafterConfigsFitTheirModels) {
  for (auto [drafter, target] : {std::pair{"gemma-4-e2b-assistant", "gemma-4-e2b"}, std::pair{"tiny-e-assistant", "tiny-e"}}) {
    SCOPED_TRACE(drafter);
    AssistantModel a;
    a.path = drafter;
    a.config = load_assistant_generator_config(test::source_dir() + "/models/configs/" + drafter + ".json").assistant;
    const ModelConfig t = ModelConfig::from_hf_file(test::source_dir() + "/models/configs/" + target + ".json");
    EXPECT_NO_THROW(check_assistant_fits(a, t));
    EXPECT_EQ(a.config.backbone_hidden_size, t.hidden_size);
  }
}

}  // namespace
}  // namespace facet
