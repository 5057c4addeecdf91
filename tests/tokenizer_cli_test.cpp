// End-to-end: the built `facet tokenize` binary on JSON lines, good and malformed.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/gemma4_tokenizer.h"
#include "support/paths.h"

namespace facet {
namespace {

struct RunResult {
  int exit_code;
  std::string out;
  std::string err;
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// Runs `facet tokenize <args>` with `input` on stdin (via a temp file) and captures
// stdout through popen and stderr through a temp file.
RunResult run_tokenize(const std::string& args, const std::string& input) {
  auto dir = std::filesystem::temp_directory_path() /
             ("facet_tokenize_cli_" + std::to_string(::getpid()) + "_" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "in.jsonl", std::ios::binary) << input;
  std::string command = test::facet_bin() + " tokenize " + args + " < '" + (dir / "in.jsonl").string() +
                        "' 2> '" + (dir / "err.txt").string() + "'";
  RunResult result{-1, "", ""};
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return result;
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) result.out.append(buffer, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.err = read_file(dir / "err.txt");
  std::filesystem::remove_all(dir);
  return result;
}

std::string vocab_arg() { return "--vocab '" + test::gemma4_tokenizer_json_path() + "'"; }

TEST(TokenizerCli, EncodesLinesInOrder) {
  RunResult r = run_tokenize(vocab_arg(),
                             "{\"text\": \"Hello world\"}\n"
                             "{\"text\": \"\"}\n"
                             "{\"text\": \"<|turn>user\\n\\u00a0 1234\"}\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "{\"ids\":[9259,1902]}\n"
            "{\"ids\":[]}\n"
            "{\"ids\":[105,2364,107,432,398,236743,236770,236778,236800,236812]}\n");
}

TEST(TokenizerCli, EncodesWithTheVocabularyOfAGgufModel) {
  RunResult r = run_tokenize("--vocab '" + test::data_dir() + "/models/gemma4-tiny-realvocab-f16.gguf'",
                             "{\"text\": \"Hello world\"}\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"ids\":[9259,1902]}\n");
}

TEST(TokenizerCli, DecodesLines) {
  // 238 is <0x00>; 476 366 366 are the bytes EE 80 80 of U+E000.
  RunResult r = run_tokenize("--decode " + vocab_arg(),
                             "{\"ids\": [9259, 1902]}\n"
                             "{\"ids\": [105, 2364, 107, 238, 476, 366, 366]}\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"text\":\"Hello world\"}\n{\"text\":\"<|turn>user\\n\\u0000\xEE\x80\x80\"}\n");
}

TEST(TokenizerCli, MalformedLineIsReportedWithItsNumber) {
  RunResult r = run_tokenize(vocab_arg(), "{\"text\": \"ok\"}\n{\"text\": unquoted}\n{\"text\": \"never\"}\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "{\"ids\":[680]}\n");  // lines before the bad one are answered
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("JSON"), std::string::npos) << r.err;
}

TEST(TokenizerCli, WrongShapesAndBadIdsAreErrorsNotCrashes) {
  RunResult missing_text = run_tokenize(vocab_arg(), "{\"ids\": [1]}\n");
  EXPECT_EQ(missing_text.exit_code, 1);
  EXPECT_NE(missing_text.err.find("line 1"), std::string::npos) << missing_text.err;
  EXPECT_NE(missing_text.err.find("\"text\""), std::string::npos) << missing_text.err;

  RunResult bad_id = run_tokenize("--decode " + vocab_arg(), "{\"ids\": [1]}\n\n{\"ids\": [-5]}\n");
  EXPECT_EQ(bad_id.exit_code, 1);
  EXPECT_NE(bad_id.err.find("line 2"), std::string::npos) << bad_id.err;  // the empty line

  RunResult no_vocab = run_tokenize("--vocab /nonexistent/tokenizer.json", "{\"text\": \"x\"}\n");
  EXPECT_EQ(no_vocab.exit_code, 1);
  EXPECT_NE(no_vocab.err.find("/nonexistent/tokenizer.json"), std::string::npos) << no_vocab.err;
}

}  // namespace
}  // namespace facet
