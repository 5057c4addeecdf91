#include "model/test_vocabulary.h"

#include <cstdio>
#include <fstream>
#include <set>
#include <unordered_map>

#include "formats/gguf.h"
#include "util/error.h"

namespace facet {
namespace {

using nlohmann::json;

const char* kSpace = "\xE2\x96\x81";  // "▁", SentencePiece's stand-in for a space

const char* kWords[] = {
    "the", "of", "and", "to", "in", "is", "it", "that", "for", "on", "with", "as", "was", "he", "be",
    "at", "by", "this", "had", "not", "are", "but", "from", "or", "have", "an", "they", "which", "one",
    "you", "were", "her", "all", "she", "there", "would", "their", "we", "him", "been", "has", "when",
    "who", "will", "more", "no", "if", "out", "so", "said", "what", "up", "its", "about", "into",
    "than", "them", "can", "only", "other", "new", "some", "could", "time", "these", "two", "may",
    "then", "do", "first", "any", "my", "now", "such", "like", "our", "over", "man", "me", "even",
    "most", "made", "after", "also", "did", "many", "before", "must", "through", "back", "years",
    "where", "much", "your", "way", "well", "down", "should", "because", "each", "just", "those",
    "people", "how", "too", "little", "good", "very", "make", "world", "still", "own", "see", "work",
    "long", "get", "here", "between", "both", "life", "being", "under", "never", "day", "same",
    "another", "know", "while", "last", "might", "great", "old", "year", "off", "come", "since",
    "go", "came", "right", "used", "take", "three", "quick", "brown", "fox", "jumps", "lazy", "dog",
    "hello", "four", "five", "six", "seven", "eight", "nine", "ten", "why"};

// Gemma 4's added tokens that llama.cpp types USER_DEFINED so decoding prints them.
const std::set<std::string> kUserDefinedSpecials = {
    "<|tool_call>", "<tool_call|>", "<|tool_response>", "<tool_response|>", "<|\"|>", "<|channel>", "<channel|>"};

class VocabBuilder {
 public:
  explicit VocabBuilder(int capacity) : capacity_(capacity) {}
  bool full() const { return static_cast<int>(v.tokens.size()) >= capacity_; }
  bool has(const std::string& piece) const { return ids_.count(piece) != 0; }
  bool add(const std::string& piece, GgufTokenType type) {
    if (full() || has(piece)) return false;
    ids_[piece] = static_cast<int>(v.tokens.size());
    v.tokens.push_back(piece);
    v.types.push_back(type);
    return true;
  }
  TestVocabulary v;

 private:
  int capacity_;
  std::unordered_map<std::string, int> ids_;
};

}  // namespace

TestVocabulary synthetic_vocabulary(int vocab_size) {
  require(vocab_size >= 5, "synthetic vocabulary: vocab_size ", vocab_size, " leaves no room for the 5 special tokens");
  VocabBuilder b(vocab_size);
  b.add("<pad>", GgufTokenType::Control);
  b.add("<eos>", GgufTokenType::Control);
  b.add("<bos>", GgufTokenType::Control);
  b.add("<unk>", GgufTokenType::Unknown);
  b.add("<mask>", GgufTokenType::Control);
  if (vocab_size >= 5 + 256)
    for (int byte = 0; byte < 256; ++byte) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", byte);
      b.add(name, GgufTokenType::Byte);
    }
  b.add(kSpace, GgufTokenType::Normal);
  for (char ch = 33; ch < 127; ++ch) b.add(std::string(1, ch), GgufTokenType::Normal);
  // Each word "▁w" enters with every prefix and the merge that makes it from the previous
  // prefix and one character, so the pieces form a valid BPE merge chain.
  for (const char* word : kWords) {
    std::string piece = kSpace;
    for (const char* p = word; *p && !b.full(); ++p) {
      const std::string next = piece + *p;
      if (b.add(next, GgufTokenType::Normal)) b.v.merges.push_back(piece + " " + std::string(1, *p));
      piece = next;
    }
  }
  for (int i = 0; !b.full(); ++i) b.add("<unused" + std::to_string(i) + ">", GgufTokenType::Normal);
  return std::move(b.v);
}

TestVocabulary vocabulary_from_hf_tokenizer(const std::string& path, int vocab_size) {
  std::ifstream in(path);
  require(in.good(), path, ": cannot open the tokenizer");
  const json tj = json::parse(in, nullptr, /*allow_exceptions=*/false);
  require(!tj.is_discarded() && tj.is_object(), path, ": not valid JSON");
  require(tj.contains("model") && tj["model"].is_object() && tj["model"].value("type", "") == "BPE" &&
              tj["model"].contains("vocab") && tj["model"]["vocab"].is_object(),
          path, ": expected a BPE tokenizer with model.vocab");
  const json& model = tj["model"];

  TestVocabulary v;
  v.tokens.assign(static_cast<size_t>(vocab_size), std::string());
  v.types.assign(static_cast<size_t>(vocab_size), GgufTokenType::Normal);
  std::vector<bool> seen(static_cast<size_t>(vocab_size), false);
  auto place = [&](const std::string& piece, const json& id_value) {
    require(id_value.is_number_integer(), path, ": token \"", piece, "\" has no integer id");
    const int64_t id = id_value.get<int64_t>();
    require(id >= 0 && id < vocab_size, path, ": token \"", piece, "\" has id ", id,
            ", outside the model's vocabulary of ", vocab_size);
    v.tokens[static_cast<size_t>(id)] = piece;
    seen[static_cast<size_t>(id)] = true;
    return static_cast<size_t>(id);
  };
  for (const auto& [piece, id] : model["vocab"].items()) {
    const size_t at = place(piece, id);
    if (piece.size() == 6 && piece.rfind("<0x", 0) == 0 && piece.back() == '>') v.types[at] = GgufTokenType::Byte;
  }
  if (tj.contains("added_tokens") && tj["added_tokens"].is_array())
    for (const json& added : tj["added_tokens"]) {
      const std::string content = added.value("content", "");
      const size_t at = place(content, added.value("id", json()));
      if (added.value("special", false))
        v.types[at] = kUserDefinedSpecials.count(content) ? GgufTokenType::UserDefined : GgufTokenType::Control;
    }
  for (int id = 0; id < vocab_size; ++id)
    require(seen[static_cast<size_t>(id)], path, ": no token has id ", id, " (the model's vocabulary has ",
            vocab_size, " entries)");
  require(model["vocab"].size() <= static_cast<size_t>(vocab_size), path, ": the tokenizer has more tokens than the model's ",
          vocab_size);

  const std::string unk = model.contains("unk_token") && model["unk_token"].is_string() ? model["unk_token"].get<std::string>() : "";
  for (int id = 0; id < vocab_size; ++id) {
    const std::string& t = v.tokens[static_cast<size_t>(id)];
    if (t == unk) { v.unk_id = id; v.types[static_cast<size_t>(id)] = GgufTokenType::Unknown; }
    if (t == "<bos>") v.bos_id = id;
    if (t == "<eos>") v.eos_id = id;
    if (t == "<pad>") v.pad_id = id;
    if (t == "<mask>") v.mask_id = id;
  }
  if (model.contains("merges") && model["merges"].is_array())
    for (const json& m : model["merges"]) {
      if (m.is_string()) v.merges.push_back(m.get<std::string>());
      else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
        v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      else fail(path, ": a merge must be \"a b\" or [\"a\", \"b\"]");
    }
  return v;
}

void write_gguf_tokenizer(GgufWriter& w, const TestVocabulary& v) {
  std::vector<int64_t> types;
  types.reserve(v.types.size());
  for (GgufTokenType t : v.types) types.push_back(static_cast<int64_t>(t));
  auto u32 = [](int v) { return GgufValue::of_u32(static_cast<uint32_t>(v)); };
  w.set("tokenizer.ggml.model", GgufValue::of_string("gemma4"));
  w.set("tokenizer.ggml.pre", GgufValue::of_string("gemma4"));
  w.set("tokenizer.ggml.tokens", GgufValue::of_array(v.tokens));
  w.set("tokenizer.ggml.scores", GgufValue::of_array(std::vector<double>(v.tokens.size(), 0.0), GgufType::F32));
  w.set("tokenizer.ggml.token_type", GgufValue::of_array(GgufType::I32, std::move(types)));
  w.set("tokenizer.ggml.merges", GgufValue::of_array(v.merges));
  w.set("tokenizer.ggml.bos_token_id", u32(v.bos_id));
  w.set("tokenizer.ggml.eos_token_id", u32(v.eos_id));
  w.set("tokenizer.ggml.unknown_token_id", u32(v.unk_id));
  w.set("tokenizer.ggml.padding_token_id", u32(v.pad_id));
  w.set("tokenizer.ggml.mask_token_id", u32(v.mask_id));
  w.set("tokenizer.ggml.add_bos_token", GgufValue::of_bool(true));
  w.set("tokenizer.ggml.add_eos_token", GgufValue::of_bool(false));
  w.set("tokenizer.ggml.add_space_prefix", GgufValue::of_bool(false));
}

json hf_tokenizer_json(const TestVocabulary& v) {
  json vocab = json::object(), added = json::array(), merges = json::array();
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    vocab[v.tokens[id]] = id;
    if (v.types[id] == GgufTokenType::Control || v.types[id] == GgufTokenType::Unknown ||
        v.types[id] == GgufTokenType::UserDefined)
      added.push_back({{"id", id}, {"content", v.tokens[id]}, {"single_word", false}, {"lstrip", false},
                       {"rstrip", false}, {"normalized", false}, {"special", true}});
  }
  for (const std::string& m : v.merges) {
    const size_t space = m.find(' ');
    merges.push_back(json::array({m.substr(0, space), m.substr(space + 1)}));
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", kSpace}}},
          {"pre_tokenizer", nullptr},
          {"post_processor", nullptr},
          {"decoder",
           {{"type", "Sequence"},
            {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", kSpace}}}, {"content", " "}},
                                      {{"type", "ByteFallback"}},
                                      {{"type", "Fuse"}}})}}},
          {"model",
           {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", "<unk>"}, {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr}, {"fuse_unk", true}, {"byte_fallback", true}, {"ignore_merges", false},
            {"vocab", vocab}, {"merges", merges}}}};
}

}  // namespace facet
