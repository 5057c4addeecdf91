// End-to-end tests of `facet template` through the built binary.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "chat/chat_types.h"
#include "support/paths.h"

namespace facet {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Runs `facet template ARGS` with `input` on stdin.
RunResult run_template(const std::string& args, const std::string& input) {
  auto dir = std::filesystem::temp_directory_path() /
             ("facet_template_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "in.json", std::ios::binary) << input;
  std::string command = "'";
  command += test::facet_bin() + "' template " + args + " < '" + (dir / "in.json").string() + "' > '" +
             (dir / "out").string() + "' 2> '" + (dir / "err").string() + "'";
  int status = std::system(command.c_str());
  RunResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_file(dir / "out");
  result.err = read_file(dir / "err");
  std::filesystem::remove_all(dir);
  return result;
}

std::vector<chat::Json> golden_lines() {
  std::ifstream in(test::data_dir() + "/chat/golden-31B.jsonl");
  std::vector<chat::Json> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(chat::Json::parse(line));
  return lines;
}

TEST(TemplateCli, RendersGoldenLinesExactlyWithNothingAdded) {
  auto lines = golden_lines();
  ASSERT_EQ(lines.size(), 12u);
  for (const auto& line : lines) {
    RunResult result = run_template("", line.dump());
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, line.at("rendered").get<std::string>()) << line.at("case");
    EXPECT_EQ(result.err, "");
  }
}

TEST(TemplateCli, SizeSmallOmitsTheEmptyThought) {
  const std::string request = R"({"messages":[{"role":"user","content":"What is the capital of France?"}]})";
  const std::string small = "<bos><|turn>user\nWhat is the capital of France?<turn|>\n<|turn>model\n";
  EXPECT_EQ(run_template("--size small", request).out, small);
  EXPECT_EQ(run_template("--size large", request).out, small + "<|channel>thought\n<channel|>");
}

void expect_failure(const std::string& args, const std::string& input, const std::string& mentions) {
  RunResult result = run_template(args, input);
  EXPECT_NE(result.exit_code, 0) << input;
  EXPECT_LT(result.exit_code, 128) << "crashed on: " << input;
  EXPECT_EQ(result.out, "") << input;
  EXPECT_NE(result.err.find(mentions), std::string::npos) << "stderr: " << result.err;
}

TEST(TemplateCli, BadInputFailsWithAClearMessage) {
  expect_failure("", "{\"messages\": [", "malformed JSON");
  expect_failure("", "", "malformed JSON");
  // Found by fuzzing: a number too large for a double is an out_of_range, not a parse_error.
  expect_failure("", R"({"messages":[{"role":"user","content":"Hi"}],"x":1e999})", "malformed JSON");
  expect_failure("", R"({"messages":[{"role":"robot","content":"Hi"}]})", "unknown role \"robot\"");
  expect_failure("", R"({"messages":[{"role":"user","content":{"a":1}}]})", "messages[0].content");
  expect_failure("", R"({"messages":[{"role":"user","content":"Hi"},{"role":"tool","content":"r"}]})",
                 "messages[1]: tool result");
  expect_failure("", R"({"messages":[{"role":"user","content":"Hi"},
      {"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":{}}}]},
      {"role":"tool","tool_call_id":"b","content":"r"}]})",
                 "tool_call_id \"b\"");
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  expect_failure("", R"({"messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":{"a":)" +
                         deep + "}}}]}]}",
                 "nested more than");
}

TEST(TemplateCli, UnsupportedOptionsAreRefused) {
  const std::string request = R"({"messages":[{"role":"user","content":"Hi"}]})";
  expect_failure("--size medium", request, "medium");
  expect_failure("--model /nonexistent/model.gguf", request, "no such file");
}

}  // namespace
}  // namespace facet
