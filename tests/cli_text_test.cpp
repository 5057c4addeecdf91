// End-to-end tests of text in, text out: `facet run -p` (raw and --chat), `facet chat` with
// piped stdin, and `facet template --ids / --model`, on the tiny model that carries the
// real Gemma 4 vocabulary (random weights: the text is gibberish, the tokens are real).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "chat/output_parser.h"
#include "model/random_model.h"
#include "support/gemma4_tokenizer.h"
#include "support/gguf_edit.h"
#include "support/paths.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

namespace facet {
namespace {

using test::run_command;

std::string facet() { return test::facet_bin(); }
std::string model_path(const std::string& name) { return test::data_dir() + "/models/" + name; }
std::string realvocab() { return model_path("gemma4-tiny-realvocab-f16.gguf"); }

std::string id_list(const std::vector<int32_t>& ids) {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
  return out;
}

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::istringstream in(text);
  for (int32_t id; in >> id;) ids.push_back(id);
  return ids;
}

std::string shell_quote(const std::string& text) { return "'" + text + "'"; }

// The realvocab model with a chat template whose generation prompt has no empty thought
// block (as the E2B/E4B templates), so `chat` picks the small rules.
std::string write_small_template_model(const test::TempDir& dir) {
  const std::string path = dir.file("small.gguf");
  const std::string small_template =
      "{{ bos_token }}{% if add_generation_prompt %}{{ '<|turn>model\\n' }}{% endif %}";
  test::copy_gguf_with_metadata(realvocab(), path,
                                {{"tokenizer.chat_template", GgufValue::of_string(small_template)}});
  return path;
}

TEST(RunText, RawCompletionIsTheDecodedTokenRun) {
  EncodeOptions with_bos;
  with_bos.add_bos = true;
  const std::string flags = " -n 16 --ignore-eos --temp 1.0 --seed 5";
  auto text = run_command(facet() + " run " + realvocab() + " -p 'The capital of France is'" + flags);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  const std::vector<int32_t> prompt = test::gemma4_tokenizer().encode("The capital of France is", with_bos);
  auto ids = run_command(facet() + " run " + realvocab() + " --tokens " + id_list(prompt) + flags);
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  const std::vector<int32_t> generated = parse_ids(ids.out);
  ASSERT_EQ(generated.size(), 16u);
  EXPECT_EQ(text.out, test::gemma4_tokenizer().decode(generated) + "\n");
  // Same seed, same text.
  EXPECT_EQ(run_command(facet() + " run " + realvocab() + " -p 'The capital of France is'" + flags).out, text.out);
}

TEST(RunText, HfFolderUsesItsTokenizerJson) {
  test::TempDir dir;
  const ModelConfig config = ModelConfig::from_hf_file(test::source_dir() + "/models/configs/tiny-moe.json");
  const std::string folder = dir.file("hf");
  write_random_hf(config, GeneratorOptions{}, folder);
  const Tokenizer tokenizer = Tokenizer::from_hf_json(folder);
  const std::string flags = " -n 6 --ignore-eos --temp 1.5 --seed 2";
  auto text = run_command(facet() + " run " + folder + " -p 'the quick brown fox'" + flags);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EncodeOptions with_bos;
  with_bos.add_bos = true;
  auto ids = run_command(facet() + " run " + folder + " --tokens " +
                         id_list(tokenizer.encode("the quick brown fox", with_bos)) + flags);
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  EXPECT_EQ(parse_ids(ids.out).size(), 6u);
  EXPECT_GT(text.out.size(), 1u);
  EXPECT_EQ(text.out, tokenizer.decode(parse_ids(ids.out)) + "\n");
}

// Sampled, not greedy: the random model's greedy choice repeats one special token.
const std::string kSampling = " --temp 1 --seed 4";

// The answer `run --chat` must print for `prompt_ids`: the same sampled run up to a stop
// id, decoded and split by the output parser.
std::string expected_answer(const std::vector<int32_t>& prompt_ids, int n) {
  auto run = run_command(facet() + " run " + realvocab() + " --tokens " + id_list(prompt_ids) + " --ignore-eos -n " +
                         std::to_string(n) + kSampling);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  std::vector<int32_t> ids = parse_ids(run.out);
  bool stopped = false;
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] == 1 || ids[i] == 106) {
      ids.resize(i);
      stopped = true;
      break;
    }
  chat::OutputParser parser({.calls_without_opener = false});
  chat::OutputDelta a = parser.feed(test::gemma4_tokenizer().decode(ids));
  chat::OutputDelta b = parser.finish(!stopped);
  std::string content = a.content + b.content;
  for (const auto* d : {&a, &b})
    for (const auto& call : d->tool_calls) content += "[tool call " + call.name + " " + call.arguments.dump() + "]";
  return content;
}

TEST(RunText, ChatModeWrapsThePromptInTheTemplateAndPrintsTheParsedAnswer) {
  auto r = run_command(facet() + " run " + realvocab() + " --chat --hide-thinking -n 12 -p 'Hello there'" + kSampling);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // No template in the file and no per-layer embeddings: the large rules (empty thought block).
  const std::vector<int32_t> prompt = test::gemma4_tokenizer().encode(
      "<bos><|turn>user\nHello there<turn|>\n<|turn>model\n<|channel>thought\n<channel|>");
  const std::string answer = expected_answer(prompt, 12);
  EXPECT_FALSE(answer.empty());
  EXPECT_EQ(r.out, answer + "\n");
  EXPECT_EQ(r.err, "");
}

TEST(ChatCli, PipedTurnsResetAndEndOfInput) {
  // Same seed: a turn after /reset must answer exactly like the first one, and like `run --chat`.
  const std::string flags = " --hide-thinking -n 10" + kSampling;
  auto single = run_command(facet() + " run " + realvocab() + " --chat -p Hello" + flags);
  ASSERT_EQ(single.exit_code, 0) << single.err;
  auto chat = run_command(facet() + " chat " + realvocab() + flags, "Hello\n/reset\nHello\n");
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_GT(single.out.size(), 1u);
  EXPECT_EQ(chat.out, single.out + single.out);
  EXPECT_NE(chat.err.find("(conversation cleared)"), std::string::npos) << chat.err;
  EXPECT_EQ(chat.out.find("\x1b["), std::string::npos) << "ANSI codes on a pipe";
}

// "prompt N tokens (R reused)" of each turn, from the -v notices.
std::vector<std::pair<int, int>> turn_counts(const std::string& err) {
  std::vector<std::pair<int, int>> turns;
  const std::regex line(R"(prompt (\d+) tokens \((\d+) reused\))");
  for (std::sregex_iterator it(err.begin(), err.end(), line), end; it != end; ++it)
    turns.emplace_back(std::stoi((*it)[1]), std::stoi((*it)[2]));
  return turns;
}

TEST(ChatCli, SystemPromptHistoryCacheReuseAndCommands) {
  test::TempDir dir;
  const std::string model = write_small_template_model(dir);
  auto r = run_command(facet() + " chat " + model + " -v -n 6 --hide-thinking",
                       "/system Be brief.\nHello\nHow are you?\n/think on\n/think maybe\n/frobnicate\n/exit\nunread\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("chat rules: small"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(system prompt set)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(thinking on)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown command /think maybe"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unknown command /frobnicate"), std::string::npos) << r.err;

  const auto turns = turn_counts(r.err);
  ASSERT_EQ(turns.size(), 2u) << "a line after /exit was answered:\n" << r.err;
  // Turn 1 is the system prompt plus the user turn, as `template` renders it.
  auto ids = run_command(facet() + " template --ids --model " + model,
                         R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello"}]})");
  ASSERT_EQ(ids.exit_code, 0) << ids.err;
  EXPECT_EQ(turns[0].first, static_cast<int>(nlohmann::json::parse(ids.out).size()));
  EXPECT_EQ(turns[0].second, 0);
  // Turn 2 carries the history and reuses at least all of turn 1's prompt from the cache.
  EXPECT_GT(turns[1].first, turns[0].first + 6);
  EXPECT_GE(turns[1].second, turns[0].first);
}

TEST(ChatCli, CtrlCStopsTheAnswerAndTwiceAtThePromptExits) {
  test::TempDir dir;
  // stdin is a FIFO held open, so the chat waits at its prompt instead of seeing EOF.
  const std::string script = R"(
    cd ')" + dir.path() + R"(' && mkfifo in || exit 90
    ')" + facet() + "' chat " + realvocab() + R"( -v -n 4000 --temp 1 --seed 1 < in > out 2> err &
    pid=$!
    exec 3> in
    echo Hello >&3
    wait_for() { n=0; until grep -q "$1" err; do sleep 0.1; n=$((n+1)); [ $n -gt 600 ] && exit 91; done; }
    wait_for 'chat rules'
    sleep 1
    kill -INT $pid; wait_for '(stopped)'
    kill -INT $pid; wait_for 'Ctrl-C again'
    kill -INT $pid
    wait $pid; rc=$?
    cat err >&2; cat out
    exit $rc)";
  std::ofstream(dir.file("script.sh")) << script;
  auto r = run_command("bash " + dir.file("script.sh"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("stop: cancelled"), std::string::npos) << r.err;
  EXPECT_FALSE(r.out.empty());
}

TEST(TemplateIds, IdsAreTheEncodingOfTheRenderedPrompt) {
  const std::string request =
      R"({"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Hi <b>there</b>  !"}],)"
      R"("enable_thinking":true})";
  for (const std::string size : {"small", "large"}) {
    auto text = run_command(facet() + " template --size " + size, request);
    ASSERT_EQ(text.exit_code, 0) << text.err;
    auto ids = run_command(facet() + " template --ids --size " + size + " --vocab " +
                               shell_quote(test::gemma4_tokenizer_json_path()),
                           request);
    ASSERT_EQ(ids.exit_code, 0) << ids.err;
    EXPECT_EQ(nlohmann::json::parse(ids.out).get<std::vector<int32_t>>(), test::gemma4_tokenizer().encode(text.out));
    EXPECT_EQ(ids.out.back(), ']');
  }
  // The tokenizer inside the model gives the same; spec example (a), small rules.
  test::TempDir dir;
  auto small = run_command(facet() + " template --ids --model " + write_small_template_model(dir),
                           R"({"messages":[{"role":"user","content":"What is the capital of France?"}]})");
  ASSERT_EQ(small.exit_code, 0) << small.err;
  EXPECT_EQ(small.out, "[2,105,2364,107,3689,563,506,5279,529,7001,236881,106,107,105,4368,107]");
}

TEST(TemplateModel, RulesComeFromTheModelsTemplateElseItsStructure) {
  const std::string request = R"({"messages":[{"role":"user","content":"Hi"}]})";
  const std::string small = "<bos><|turn>user\nHi<turn|>\n<|turn>model\n";
  const std::string large = small + "<|channel>thought\n<channel|>";
  test::TempDir dir;
  auto render = [&](const std::string& model) {
    auto r = run_command(facet() + " template --model " + model, request);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  EXPECT_EQ(render(model_path("gemma4-tiny-e2b-like-f32.gguf")), small);  // per-layer embeddings
  EXPECT_EQ(render(model_path("gemma4-tiny-moe-f32.gguf")), large);
  EXPECT_EQ(render(realvocab()), large);
  EXPECT_EQ(render(write_small_template_model(dir)), small);  // the template beats the structure
  auto v = run_command(facet() + " template -v --model " + realvocab(), request);
  EXPECT_NE(v.err.find("no chat template"), std::string::npos) << v.err;
}

TEST(TextCliErrors, ClearMessagesAndNonZeroExit) {
  test::TempDir dir;
  const std::string bare = dir.file("bare.gguf");
  test::copy_gguf_with_metadata(model_path("gemma4-tiny-moe-f32.gguf"), bare, {}, {"tokenizer."});
  struct Case {
    std::string args, stdin_text, fragment;
  };
  const std::string request = R"({"messages":[{"role":"user","content":"Hi"}]})";
  const std::vector<Case> cases = {
      {"run " + bare + " -p hi", "", "carries no tokenizer"},
      {"chat " + bare, "hi\n", "carries no tokenizer"},
      {"run " + realvocab(), "", "-p TEXT or --tokens"},
      {"run " + realvocab() + " -p hi --tokens 2", "", "excludes"},
      {"run " + realvocab() + " -p hi --think", "", "need --chat"},
      {"run " + realvocab() + " --chat --tokens 2", "", "requires"},
      {"run " + realvocab() + " -p hi --temp -2", "", "temperature"},
      {"run " + realvocab() + " -p hi -c 3 -n 5", "", "does not fit"},
      {"run " + dir.file("missing.gguf") + " -p hi", "", "no such file"},
      {"chat " + realvocab() + " --top-p 7", "hi\n", "top"},
      {"template --ids", request, "--vocab PATH or --model PATH"},
      {"template --vocab " + shell_quote(test::gemma4_tokenizer_json_path()), request, "only used with --ids"},
      {"template --size small --model " + realvocab(), request, "excludes"},
      {"template --model " + dir.file("missing.gguf"), request, "no such file"},
      {"template --ids --model " + bare, request, "carries no tokenizer"},
  };
  for (const Case& c : cases) {
    auto r = run_command(facet() + " " + c.args, c.stdin_text);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_LT(r.exit_code, 128) << "crashed: " << c.args;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << "\nstderr: " << r.err;
    EXPECT_TRUE(r.out.empty()) << c.args << "\nstdout: " << r.out;
  }
}

}  // namespace
}  // namespace facet
