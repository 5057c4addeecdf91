// Reads a Hugging Face tokenizer.json into a TokenizerVocab (see vocabulary.h).
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "tokenizer/hf_json_reader.h"
#include "tokenizer/vocabulary.h"
#include "util/error.h"

namespace facet {
namespace {

using nlohmann::json;

// The Gemma 4 added tokens that llama.cpp's converter types USER_DEFINED rather than
// CONTROL, so that they are printed when decoding and an output parser can see them.
constexpr std::string_view kGemma4UserDefinedTokens[] = {
    "<|tool_call>", "<tool_call|>", "<|tool_response>", "<tool_response|>",
    "<|\"|>",       "<|channel>",   "<channel|>"};

bool is_byte_piece(std::string_view piece) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return piece.size() == 6 && piece.substr(0, 3) == "<0x" && hex(piece[3]) && hex(piece[4]) &&
         piece[5] == '>';
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(static_cast<bool>(in), "cannot open tokenizer file ", path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return std::move(buffer).str();
}

// Gemma's only normalization is " " -> "▁"; the encoder hard-codes it, so refuse files
// that ask for something else rather than tokenizing them wrongly.
void check_normalizer(const json& normalizer, const std::string& path) {
  if (normalizer.is_null()) return;
  auto is_space_replace = [](const json& n) {
    return n.value("type", "") == "Replace" && n.contains("pattern") &&
           n["pattern"].value("String", "") == " " && n.value("content", "") == "\u2581";
  };
  if (is_space_replace(normalizer)) return;
  if (normalizer.value("type", "") == "Sequence" && normalizer.contains("normalizers")) {
    const json& parts = normalizer["normalizers"];
    if (parts.is_array() && parts.size() == 1 && is_space_replace(parts[0])) return;
  }
  fail(path, ": unsupported normalizer ", normalizer.dump(),
       " (expected the Gemma normalizer: Replace \" \" with \"\u2581\")");
}

void read_vocab(HfTokenizerJson& file, const std::string& path, TokenizerVocab& vocab) {
  require(file.has_vocab, path, ": model.vocab must be an object mapping pieces to ids");
  const size_t count = file.vocab.size();
  vocab.tokens.assign(count, std::string());
  std::vector<bool> seen(count, false);
  for (auto& [piece, id] : file.vocab) {
    require(id >= 0 && id < static_cast<int64_t>(count) && !seen[id], path, ": model.vocab ids must be 0..",
            count - 1, " without gaps or repeats (got ", id, " for \"", piece, "\")");
    seen[id] = true;
    vocab.tokens[id] = std::move(piece);
  }
}

void read_added_tokens(const json& root, const std::string& path, TokenizerVocab& vocab) {
  if (!root.contains("added_tokens")) return;
  const json& added = root["added_tokens"];
  require(added.is_array(), path, ": added_tokens must be an array");
  for (size_t i = 0; i < added.size(); ++i) {
    const json& token = added[i];
    require(token.is_object() && token.contains("id") && token["id"].is_number_integer() &&
                token.contains("content") && token["content"].is_string(),
            path, ": added_tokens[", i, "] must have an integer id and a string content");
    auto id = token["id"].get<int64_t>();
    const auto& content = token["content"].get_ref<const std::string&>();
    require(id >= 0 && id < static_cast<int64_t>(vocab.tokens.size()), path, ": added_tokens[", i,
            "] id ", id, " is outside the vocabulary");
    require(vocab.tokens[id] == content, path, ": added_tokens[", i, "] \"", content,
            "\" disagrees with model.vocab, which has \"", vocab.tokens[id], "\" at id ", id);
    auto type = TokenType::kControl;
    for (auto user_defined : kGemma4UserDefinedTokens)
      if (content == user_defined) type = TokenType::kUserDefined;
    if (content == "<unk>") type = TokenType::kUnknown;
    vocab.token_types[id] = static_cast<int32_t>(type);
    if (content == "<bos>") vocab.bos_id = static_cast<int32_t>(id);
    if (content == "<eos>") vocab.eos_id = static_cast<int32_t>(id);
    if (content == "<pad>") vocab.pad_id = static_cast<int32_t>(id);
  }
}

}  // namespace

TokenizerVocab load_hf_tokenizer_json(const std::string& given_path) {
  std::string path = given_path;
  if (std::filesystem::is_directory(path)) path = (std::filesystem::path(path) / "tokenizer.json").string();

  HfTokenizerJson file = parse_hf_tokenizer_json(read_whole_file(path), path);
  const json& root = file.rest;
  require(root.is_object() && root.contains("model") && root["model"].is_object(), path,
          ": expected a tokenizer.json object with a \"model\" object");
  const json& model = root["model"];
  require(model.value("type", "") == "BPE", path, ": model.type must be \"BPE\" (got ",
          model.contains("type") ? model["type"].dump() : "nothing", ")");
  check_normalizer(root.contains("normalizer") ? root["normalizer"] : json(), path);

  TokenizerVocab vocab;
  vocab.source = path;
  read_vocab(file, path, vocab);
  vocab.token_types.assign(vocab.tokens.size(), static_cast<int32_t>(TokenType::kNormal));
  for (size_t id = 0; id < vocab.tokens.size(); ++id)
    if (is_byte_piece(vocab.tokens[id])) vocab.token_types[id] = static_cast<int32_t>(TokenType::kByte);
  require(file.has_merges, path, ": model.merges must be an array");
  vocab.merges = std::move(file.merges);
  read_added_tokens(root, path, vocab);

  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    const auto& unk = model["unk_token"].get_ref<const std::string&>();
    for (size_t id = 0; id < vocab.tokens.size(); ++id)
      if (vocab.tokens[id] == unk) vocab.unk_id = static_cast<int32_t>(id);
  }
  // The Gemma 4 tokenizer.json does not add BOS on its own (add_bos_token = false in the
  // published configs); the chat template writes "<bos>" as text.
  vocab.add_bos = false;
  return vocab;
}

}  // namespace facet
