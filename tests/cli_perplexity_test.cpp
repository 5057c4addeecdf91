// End-to-end tests of `facet perplexity`. The reference perplexity and KL divergence are
// computed here, independently: the token stream from `facet tokenize`, the windows cut by
// the test's own code, each window's logits from `facet logits`, then a float64
// log-softmax written below.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/paths.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace facet {
namespace {

using test::run_command;

std::string facet() { return test::facet_bin(); }
std::string model_path(const std::string& name) { return test::data_dir() + "/models/" + name; }
const std::string kModel = model_path("gemma4-tiny-e2b-like-f32.gguf");
constexpr int kBos = 2;

const char* kText =
    "The quick brown fox jumps over the lazy dog. Hello world, one two three four five six seven eight nine ten.\n"
    "A small model reads this text and guesses each next word; the better it guesses, the lower its perplexity.\n"
    "One two three, the dog and the fox. Hello again, world: eight nine ten, and the quick brown fox is back.\n";

std::string write_text(const test::TempDir& dir) {
  const std::string path = dir.file("text.txt");
  std::ofstream(path) << kText;
  return path;
}

std::vector<int> tokenize(const std::string& model, const std::string& text) {
  auto r = run_command(facet() + " tokenize --vocab " + model, nlohmann::json{{"text", text}}.dump() + "\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out)["ids"].get<std::vector<int>>();
}

std::vector<std::vector<double>> logits_of(const std::string& model, const std::vector<int>& tokens) {
  std::string list;
  for (size_t i = 0; i < tokens.size(); ++i) list += std::string(i ? "," : "") + std::to_string(tokens[i]);
  auto r = run_command(facet() + " logits " + model + " --tokens " + list);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out).get<std::vector<std::vector<double>>>();
}

std::vector<double> log_softmax(const std::vector<double>& x) {
  const double max = *std::max_element(x.begin(), x.end());
  double sum = 0;
  for (double v : x) sum += std::exp(v - max);
  std::vector<double> out;
  for (double v : x) out.push_back(v - max - std::log(sum));
  return out;
}

// A window as the test cuts it: model input, and the positions whose next token is scored.
struct Window {
  std::vector<int> tokens;
  size_t first_scored;
};

// llama-perplexity: [BOS] + stream in chunks of c, first token of each replaced by BOS,
// positions c/2 .. c-2 scored.
std::vector<Window> llama_windows(const std::vector<int>& stream, size_t c) {
  std::vector<int> all = {kBos};
  all.insert(all.end(), stream.begin(), stream.end());
  std::vector<Window> out;
  for (size_t k = 0; (k + 1) * c <= all.size(); ++k) {
    Window w{std::vector<int>(all.begin() + static_cast<long>(k * c), all.begin() + static_cast<long>((k + 1) * c)), c / 2};
    w.tokens[0] = kBos;
    out.push_back(w);
  }
  return out;
}

// Sliding: every stream token from the second on is scored once, with as much preceding
// context as fits in c - 1 stream tokens, windows starting every `stride` tokens.
std::vector<Window> sliding_windows(const std::vector<int>& stream, size_t c, size_t stride) {
  std::vector<Window> out;
  size_t scored_up_to = 1;  // stream index of the next token to score
  for (size_t start = 0; scored_up_to < stream.size(); start += stride) {
    const size_t end = std::min(start + c - 1, stream.size());
    Window w{{kBos}, 0};
    w.tokens.insert(w.tokens.end(), stream.begin() + static_cast<long>(start), stream.begin() + static_cast<long>(end));
    w.first_scored = scored_up_to - start;  // position p predicts stream[start + p]
    scored_up_to = end;
    out.push_back(w);
  }
  return out;
}

struct Reference {
  double ppl = 0, kl_mean = 0, top1 = 0, base_ppl = 0;
  size_t scored = 0;
};

Reference reference(const std::string& model, const std::string& base, const std::vector<Window>& windows) {
  double nll = 0, base_nll = 0, kl = 0;
  size_t n = 0, agree = 0;
  for (const Window& w : windows) {
    auto logits = logits_of(model, w.tokens);
    auto base_logits = base.empty() ? logits : logits_of(base, w.tokens);
    for (size_t p = w.first_scored; p + 1 < w.tokens.size(); ++p) {
      auto lp = log_softmax(logits[p]), bp = log_softmax(base_logits[p]);
      const size_t next = static_cast<size_t>(w.tokens[p + 1]);
      nll -= lp[next];
      base_nll -= bp[next];
      for (size_t v = 0; v < lp.size(); ++v) kl += std::exp(bp[v]) * (bp[v] - lp[v]);
      agree += std::max_element(lp.begin(), lp.end()) == lp.begin() + (std::max_element(bp.begin(), bp.end()) - bp.begin());
      ++n;
    }
  }
  Reference r;
  r.scored = n;
  r.ppl = std::exp(nll / static_cast<double>(n));
  r.base_ppl = std::exp(base_nll / static_cast<double>(n));
  r.kl_mean = kl / static_cast<double>(n);
  r.top1 = static_cast<double>(agree) / static_cast<double>(n);
  return r;
}

nlohmann::json run_json(const std::string& args) {
  auto r = run_command(facet() + " perplexity " + args + " --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

TEST(CliPerplexity, ChunkedPerplexityMatchesAnIndependentComputation) {
  test::TempDir dir;
  const std::string text = write_text(dir);
  const auto stream = tokenize(kModel, kText);
  ASSERT_GT(stream.size(), 60u);
  const auto windows = llama_windows(stream, 16);
  const Reference want = reference(kModel, "", windows);
  auto j = run_json(kModel + " " + text + " -c 16");
  EXPECT_EQ(j["text_tokens"].get<size_t>(), stream.size());
  EXPECT_EQ(j["windows"].get<size_t>(), windows.size());
  EXPECT_EQ(j["scored_tokens"].get<size_t>(), want.scored);
  EXPECT_EQ(want.scored, windows.size() * 7);  // positions 8..14 of each 16-token window
  EXPECT_NEAR(j["ppl"].get<double>(), want.ppl, 1e-5 * want.ppl);
  EXPECT_GT(j["ppl_error"].get<double>(), 0);
  EXPECT_NEAR(j["window_ppl"].back().get<double>(), want.ppl, 1e-5 * want.ppl);
}

TEST(CliPerplexity, SlidingPerplexityScoresEveryTokenOnceAndMatches) {
  test::TempDir dir;
  const std::string text = write_text(dir);
  const auto stream = tokenize(kModel, kText);
  const auto windows = sliding_windows(stream, 24, 9);
  const Reference want = reference(kModel, "", windows);
  EXPECT_EQ(want.scored, stream.size() - 1);
  auto j = run_json(kModel + " " + text + " -c 24 --stride 9");
  EXPECT_EQ(j["windows"].get<size_t>(), windows.size());
  EXPECT_EQ(j["scored_tokens"].get<size_t>(), stream.size() - 1);
  EXPECT_NEAR(j["ppl"].get<double>(), want.ppl, 1e-5 * want.ppl);
}

TEST(CliPerplexity, RealTokenizerModelMatchesOnOneWindow) {
  // The real Gemma 4 vocabulary (262144 entries): one 8-token window keeps the JSON small.
  test::TempDir dir;
  const std::string model = model_path("gemma4-tiny-realvocab-f16.gguf");
  const auto stream = tokenize(model, kText);
  auto windows = llama_windows(stream, 8);
  windows.resize(1);
  const Reference want = reference(model, "", windows);
  auto j = run_json(model + " " + write_text(dir) + " -c 8 --chunks 1");
  EXPECT_EQ(j["text_tokens"].get<size_t>(), stream.size());
  EXPECT_EQ(j["scored_tokens"].get<size_t>(), 3u);
  EXPECT_NEAR(j["ppl"].get<double>(), want.ppl, 1e-5 * want.ppl);
}

TEST(CliPerplexity, ChunksLimitsTheWindows) {
  test::TempDir dir;
  auto j = run_json(kModel + " " + write_text(dir) + " -c 16 --chunks 2");
  EXPECT_EQ(j["windows"], 2);
  EXPECT_EQ(j["scored_tokens"], 14);
}

TEST(CliPerplexity, LlamaStyleModelAndFileFlagsWorkToo) {
  test::TempDir dir;
  const std::string text = write_text(dir);
  auto positional = run_json(kModel + " " + text + " -c 16 --chunks 2");
  auto flags = run_json("-m " + kModel + " -f " + text + " -c 16 --chunks 2");
  EXPECT_EQ(flags["ppl"].get<double>(), positional["ppl"].get<double>());
}

TEST(CliPerplexity, KlOfAModelAgainstItselfIsZero) {
  test::TempDir dir;
  auto j = run_json(kModel + " " + write_text(dir) + " -c 16 --kl-base " + kModel);
  EXPECT_NEAR(j["kl_divergence"]["mean"].get<double>(), 0, 1e-12);
  EXPECT_NEAR(j["kl_divergence"]["max"].get<double>(), 0, 1e-12);
  EXPECT_EQ(j["top1_agreement"].get<double>(), 1.0);
  EXPECT_EQ(j["mean_delta_logprob"].get<double>(), 0.0);
  EXPECT_EQ(j["ppl"].get<double>(), j["base"]["ppl"].get<double>());
}

TEST(CliPerplexity, KlOfQ4_0AgainstF32IsSmallPositiveAndMatchesTheReference) {
  test::TempDir dir;
  const std::string q4 = dir.file("q4_0.gguf");
  auto q = run_command(facet() + " quantize " + kModel + " " + q4 + " Q4_0");
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const auto stream = tokenize(kModel, kText);
  const auto windows = llama_windows(stream, 16);
  const Reference want = reference(q4, kModel, windows);
  auto j = run_json(q4 + " " + write_text(dir) + " -c 16 --kl-base " + kModel);
  const double kl = j["kl_divergence"]["mean"].get<double>();
  EXPECT_GT(kl, 0);
  EXPECT_LT(kl, 0.01);  // 4-bit weights move the distributions a little (about 5e-4 nats here)
  EXPECT_NEAR(kl, want.kl_mean, 1e-4 * want.kl_mean + 1e-9);
  EXPECT_NEAR(j["top1_agreement"].get<double>(), want.top1, 1e-12);
  EXPECT_NEAR(j["ppl"].get<double>(), want.ppl, 1e-5 * want.ppl);
  EXPECT_NEAR(j["base"]["ppl"].get<double>(), want.base_ppl, 1e-5 * want.base_ppl);
  const auto& k = j["kl_divergence"];
  EXPECT_LE(k["median"].get<double>(), k["p90"].get<double>());
  EXPECT_LE(k["p90"].get<double>(), k["p99"].get<double>());
  EXPECT_LE(k["p99"].get<double>(), k["max"].get<double>());
}

TEST(CliPerplexity, TextSummaryHasThePplLine) {
  test::TempDir dir;
  auto r = run_command(facet() + " perplexity " + kModel + " " + write_text(dir) + " -c 16 --kl-base " + kModel);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("PPL = "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("KL divergence"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("top-1 agreement = 100.000%"), std::string::npos) << r.out;
}

TEST(CliPerplexity, BadInputGivesAClearError) {
  test::TempDir dir;
  const std::string text = write_text(dir);
  std::ofstream(dir.file("short.txt")) << "Hello world";
  struct Case {
    std::string args, fragment;
  };
  const std::vector<Case> cases = {
      {kModel + " " + dir.file("missing.txt"), "cannot open text file"},
      {kModel + " " + text + " -c 2", "at least 4 tokens"},
      {kModel + " " + dir.file("short.txt") + " -c 64", "use a smaller -c"},
      {kModel + " " + text + " -c 16 --stride 16", "--stride must be between 1 and"},
      {kModel + " " + text + " -c 16 --stride -2", "--stride must be between 1 and"},
      {kModel + " " + text + " -c 16 --chunks -1", "--chunks"},
      {kModel + " " + text + " -t 0", "-t/--threads must be at least 1"},
      {kModel + " " + text + " -c 16 --kl-base " + model_path("gemma4-tiny-realvocab-f16.gguf"), "same vocabulary"},
      {kModel + " " + text + " -c 16 --kl-base /nonexistent.gguf", "nonexistent"},
  };
  for (const Case& c : cases) {
    auto r = run_command(facet() + " perplexity " + c.args);
    EXPECT_EQ(r.exit_code, 1) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find("error: "), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\n" << r.err;
  }
}

}  // namespace
}  // namespace facet
