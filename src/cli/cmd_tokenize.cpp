// `facet tokenize`: text to token ids (or back with --decode) as JSON lines on
// stdin/stdout, one output line per input line, in order.
//   echo '{"text": "Hello world"}' | facet tokenize --vocab tokenizer.json   ->  {"ids":[9259,1902]}
#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/command.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace facet::cli {
namespace {

struct TokenizeOptions {
  std::string vocab_path;
  bool decode = false;
  bool add_bos = false;
  bool skip_special = false;
};

// A short excerpt of a bad input line for error messages.
std::string excerpt(const std::string& line) {
  constexpr size_t kMax = 60;
  return line.size() <= kMax ? line : line.substr(0, kMax) + "...";
}

nlohmann::json parse_line(const std::string& line) {
  require(!line.empty() && line != "\r", "empty line (expected a JSON object)");
  try {
    return nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    fail("not valid JSON: ", e.what(), " in: ", excerpt(line));
  }
}

void encode_line(const Tokenizer& tokenizer, const TokenizeOptions& options, const std::string& line,
                 std::string& out) {
  nlohmann::json request = parse_line(line);
  require(request.is_object() && request.contains("text") && request["text"].is_string(),
          "expected an object with a string field \"text\", got: ", excerpt(line));
  auto ids = tokenizer.encode(request["text"].get_ref<const std::string&>(), {.add_bos = options.add_bos});
  out += "{\"ids\":[";
  char number[16];
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    auto end = std::to_chars(number, number + sizeof number, ids[i]).ptr;
    out.append(number, end);
  }
  out += "]}\n";
}

void decode_line(const Tokenizer& tokenizer, const TokenizeOptions& options, const std::string& line,
                 std::string& out) {
  nlohmann::json request = parse_line(line);
  require(request.is_object() && request.contains("ids") && request["ids"].is_array(),
          "expected an object with an array field \"ids\", got: ", excerpt(line));
  std::vector<int32_t> ids;
  for (const auto& id : request["ids"]) {
    require(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < tokenizer.vocab_size(),
            "\"ids\" must hold integer token ids in 0..", tokenizer.vocab_size() - 1, ", got ", id.dump());
    ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
  }
  std::string text = tokenizer.decode(ids, {.skip_special = options.skip_special});
  out += nlohmann::json{{"text", text}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out += '\n';
}

int run_tokenize(const TokenizeOptions& options) {
  const Tokenizer tokenizer = Tokenizer::from_file(options.vocab_path);
  std::ios::sync_with_stdio(false);
  std::string line, out;
  size_t line_number = 0;
  auto write_out = [&out] {
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    out.clear();
  };
  while (std::getline(std::cin, line)) {
    ++line_number;
    try {
      if (options.decode) {
        decode_line(tokenizer, options, line, out);
      } else {
        encode_line(tokenizer, options, line, out);
      }
    } catch (const Error& e) {
      write_out();  // the lines before the bad one have been answered
      fail("stdin line ", line_number, ": ", e.what());
    }
    if (out.size() > (1u << 16)) write_out();
  }
  write_out();
  return 0;
}

const CommandRegistration kTokenizeCommand("tokenize", [](CLI::App& parent) -> std::function<int()> {
  auto options = std::make_shared<TokenizeOptions>();
  CLI::App* command = parent.add_subcommand(
      "tokenize", "Encode JSON lines {\"text\": ...} from stdin into {\"ids\": [...]} (or back with --decode)");
  command->add_option("--vocab", options->vocab_path, "tokenizer.json, a Hugging Face model folder, or a .gguf file")
      ->required();
  command->add_flag("--decode", options->decode, "read {\"ids\": [...]} lines and write {\"text\": ...}");
  command->add_flag("--bos", options->add_bos, "start each encoding with the BOS token");
  command->add_flag("--skip-special", options->skip_special, "when decoding, drop control tokens such as <bos>");
  return [options] { return run_tokenize(*options); };
});

}  // namespace
}  // namespace facet::cli
