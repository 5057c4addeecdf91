#include "cli/bench_speculative.h"

#include <random>

#include "cli/generation_flags.h"
#include "util/error.h"

namespace facet::cli {
namespace {

// Runs the real drafter for its cost, then proposes the reference continuation with each
// token kept with probability `rate` (else replaced by another id).
class AcceptanceDrafter : public Drafter {
 public:
  AcceptanceDrafter(Drafter* inner, std::vector<int32_t> reference, double rate, int64_t vocab)
      : inner_(inner), reference_(std::move(reference)), rate_(rate), vocab_(vocab) {}
  std::vector<int32_t> propose(const std::vector<int32_t>& sequence, int max) override {
    return guesses(sequence.size(), max);
  }
  std::vector<int32_t> propose_for(const DraftInput& input, int max) override {
    if (inner_ != nullptr) inner_->propose_for(input, max);  // paid, not used
    return guesses(input.sequence.size(), max);
  }
  std::string name() const override { return "reference at a set acceptance"; }

 private:
  std::vector<int32_t> guesses(size_t from, int max) {
    std::vector<int32_t> out;
    for (size_t i = from; i < reference_.size() && static_cast<int>(out.size()) < max; ++i) {
      const bool keep = std::uniform_real_distribution<double>(0, 1)(rng_) < rate_;
      out.push_back(keep ? reference_[i] : static_cast<int32_t>((reference_[i] + 1) % vocab_));
    }
    return out;
  }
  Drafter* inner_;
  std::vector<int32_t> reference_;
  double rate_;
  int64_t vocab_;
  std::mt19937_64 rng_{42};
};

std::vector<int32_t> prompt_tokens(const ModelConfig& c) {
  const int32_t limit = c.has_ple() ? std::min(c.vocab_size, c.ple_vocab) : c.vocab_size;
  std::mt19937 rng(4321);
  std::uniform_int_distribution<int32_t> pick(0, limit - 1);
  std::vector<int32_t> tokens(32);
  for (auto& t : tokens) t = pick(rng);
  return tokens;
}

}  // namespace

SpeculativeBenchResult bench_speculative(const Model& model, const std::string& drafter_name, int draft_min,
                                         int draft_max,
                                         std::optional<double> acceptance, int64_t n_gen, int repetitions,
                                         int threads) {
  require(!acceptance || (*acceptance >= 0 && *acceptance <= 1), "--draft-acceptance must be between 0 and 1");
  const std::vector<int32_t> prompt = prompt_tokens(model.config);
  const int64_t context = static_cast<int64_t>(prompt.size()) + n_gen + draft_max + 1;
  GenerationFlags flags;
  flags.draft = drafter_name;
  flags.draft_min = draft_min;
  flags.draft_max = draft_max;
  flags.threads = threads;
  DraftSetup setup = make_drafter(flags, model, context);

  GenerationOptions options;
  options.max_tokens = n_gen;
  SpeculativeBenchResult out;
  std::vector<int32_t> reference;
  auto run = [&](Drafter* drafter) {
    Generator generator(model, nullptr, context, threads, setup.rewind_tokens());
    GenerationOptions o = options;
    setup.apply(o);  // the draft length range
    o.drafter = drafter;
    GenerationResult r = generator.generate(prompt, o);
    return r;
  };
  run(nullptr);  // warm-up
  for (int i = 0; i < repetitions; ++i) {
    const GenerationResult plain = run(nullptr);
    reference = prompt;
    reference.insert(reference.end(), plain.tokens.begin(), plain.tokens.end());
    out.plain_tokens_per_s.push_back(static_cast<double>(plain.tokens.size()) / std::max(1e-9, plain.decode_seconds));

    std::unique_ptr<AcceptanceDrafter> fixed;
    Drafter* drafter = setup.drafter.get();
    if (acceptance) {
      fixed = std::make_unique<AcceptanceDrafter>(drafter, reference, *acceptance, model.config.vocab_size);
      drafter = fixed.get();
    }
    if (i == 0) run(drafter);  // warm-up of the drafted path
    const GenerationResult drafted = run(drafter);
    // Greedy drafting must not change a token: a benchmark of wrong output is no benchmark.
    require(drafted.tokens == plain.tokens, "internal: drafted generation differs from the plain one");
    out.drafted_tokens_per_s.push_back(static_cast<double>(drafted.tokens.size()) /
                                       std::max(1e-9, drafted.decode_seconds));
    out.drafted = drafted.drafted_tokens;
    out.accepted = drafted.accepted_tokens;
    out.forward_steps = drafted.forward_steps;
    out.generated = static_cast<int64_t>(drafted.tokens.size());
  }
  return out;
}

}  // namespace facet::cli
