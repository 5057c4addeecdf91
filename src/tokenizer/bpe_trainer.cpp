#include "tokenizer/bpe_trainer.h"

#include <algorithm>
#include <map>
#include <queue>
#include <unordered_map>

#include "tokenizer/utf8.h"
#include "util/error.h"

namespace facet {
namespace {

const std::string kSpace = "\xe2\x96\x81";  // ▁
constexpr int kFirstByteId = 238;
constexpr int kFirstFreeId = kFirstByteId + 256;
constexpr int kLongestRun = 31;  // "\n"×31 and "▁"×31 are the longest run pieces

std::string repeat(const std::string& s, int k) {
  std::string out;
  for (int i = 0; i < k; ++i) out += s;
  return out;
}

// Ids 0..493 as Gemma 4 lays them out (special tokens, newline and space runs, bytes).
void lay_out_fixed_ids(TestVocabulary& v) {
  v.tokens.assign(kFirstFreeId, "");
  v.types.assign(kFirstFreeId, GgufTokenType::Normal);
  const std::vector<std::pair<int, const char*>> specials = {
      {0, "<pad>"},        {1, "<eos>"},        {2, "<bos>"},          {3, "<unk>"},           {4, "<mask>"},
      {46, "<|tool>"},     {47, "<tool|>"},     {48, "<|tool_call>"},  {49, "<tool_call|>"},   {50, "<|tool_response>"},
      {51, "<tool_response|>"}, {52, "<|\"|>"}, {98, "<|think|>"},     {100, "<|channel>"},    {101, "<channel|>"},
      {105, "<|turn>"},    {106, "<turn|>"}};
  for (const auto& [id, text] : specials) {
    v.tokens[static_cast<size_t>(id)] = text;
    v.types[static_cast<size_t>(id)] = id == 3 ? GgufTokenType::Unknown : GgufTokenType::Control;
  }
  v.tokens[5] = "[multimodal]";
  for (int k = 1; k <= kLongestRun; ++k) v.tokens[static_cast<size_t>(106 + k)] = repeat("\n", k);
  for (int k = 2; k <= kLongestRun; ++k) v.tokens[static_cast<size_t>(136 + k)] = repeat(kSpace, k);
  int unused = 0;
  for (int id = 0; id < kFirstByteId; ++id)
    if (v.tokens[static_cast<size_t>(id)].empty()) v.tokens[static_cast<size_t>(id)] = "<unused" + std::to_string(unused++) + ">";
  for (int b = 0; b < 256; ++b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", b);
    v.tokens[static_cast<size_t>(kFirstByteId + b)] = buf;
    v.types[static_cast<size_t>(kFirstByteId + b)] = GgufTokenType::Byte;
  }
}

// Every split of a run of 2..31 into two shorter runs, shortest totals first, so any run
// of up to 31 ends as one piece (as llama.cpp emits a newline run that is a token whole).
void add_run_merges(TestVocabulary& v, const std::string& unit) {
  for (int total = 2; total <= kLongestRun; ++total)
    for (int left = total - 1; left >= 1; --left) v.merges.push_back(repeat(unit, left) + " " + repeat(unit, total - left));
}

// The words of a normalized text: a run of "▁"s plus the characters up to the next "▁"
// or newline; newlines are left out (their runs are fixed pieces).
void count_words(const std::string& text, std::unordered_map<std::string, int64_t>& words) {
  std::string normalized;
  normalized.reserve(text.size() + text.size() / 4);
  for (char ch : text) {
    if (ch == ' ') normalized += kSpace;
    else normalized += ch;
  }
  std::string word;
  bool in_spaces = false;
  auto flush = [&] {
    if (!word.empty()) ++words[word];
    word.clear();
  };
  for (size_t pos = 0; pos < normalized.size();) {
    if (normalized[pos] == '\n') {
      flush();
      in_spaces = false;
      ++pos;
      continue;
    }
    const bool space = normalized.compare(pos, kSpace.size(), kSpace) == 0;
    if (space && !in_spaces) flush();
    in_spaces = space;
    size_t length = utf8::valid_sequence_length(normalized, pos);
    if (length == 0) length = 1;  // a stray byte: byte fallback handles it
    word.append(normalized, pos, length);
    pos += length;
  }
  flush();
}

std::vector<std::string> characters_of(const std::string& word) {
  std::vector<std::string> out;
  for (size_t pos = 0; pos < word.size();) {
    size_t length = utf8::valid_sequence_length(word, pos);
    if (length == 0) length = 1;
    out.push_back(word.substr(pos, length));
    pos += length;
  }
  return out;
}

uint64_t pair_key(int a, int b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); }

struct Candidate {
  int64_t count;
  uint64_t key;
  bool operator<(const Candidate& o) const {  // max count first, then the smaller key
    return count != o.count ? count < o.count : key > o.key;
  }
};

// Greedy BPE over the word table (symbols < 0 are characters left to byte fallback, which
// never merge).
class MergeLearner {
 public:
  MergeLearner(std::vector<std::vector<int>> words, std::vector<int64_t> freq)
      : words_(std::move(words)), freq_(std::move(freq)), stamp_(words_.size(), 0) {
    for (size_t w = 0; w < words_.size(); ++w) add_pairs(w, +1);
    for (const auto& [key, count] : counts_) queue_.push({count, key});
  }

  // The most frequent pair (count >= 2), or false when none is left.
  bool best(int& a, int& b) {
    while (!queue_.empty()) {
      const Candidate top = queue_.top();
      auto it = counts_.find(top.key);
      if (it == counts_.end() || it->second != top.count) {  // stale entry
        queue_.pop();
        continue;
      }
      if (top.count < 2) return false;
      a = static_cast<int>(top.key >> 32);
      b = static_cast<int>(top.key & 0xffffffffu);
      return true;
    }
    return false;
  }

  void merge(int a, int b, int merged) {
    const uint64_t key = pair_key(a, b);
    const std::vector<size_t> holders = std::move(where_[key]);
    where_.erase(key);
    ++round_;
    for (size_t w : holders) {
      if (stamp_[w] == round_) continue;  // listed twice
      stamp_[w] = round_;
      std::vector<int>& s = words_[w];
      bool has = false;
      for (size_t i = 0; i + 1 < s.size() && !has; ++i) has = s[i] == a && s[i + 1] == b;
      if (!has) continue;
      add_pairs(w, -1);
      std::vector<int> out;
      out.reserve(s.size());
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          out.push_back(merged);
          ++i;
        } else {
          out.push_back(s[i]);
        }
      }
      s = std::move(out);
      add_pairs(w, +1);
    }
    for (uint64_t changed : changed_) {
      auto it = counts_.find(changed);
      if (it != counts_.end()) queue_.push({it->second, changed});
    }
    changed_.clear();
  }

 private:
  void add_pairs(size_t w, int sign) {
    const std::vector<int>& s = words_[w];
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      if (s[i] < 0 || s[i + 1] < 0) continue;
      const uint64_t key = pair_key(s[i], s[i + 1]);
      int64_t& count = counts_[key];
      count += sign * freq_[w];
      if (count == 0) counts_.erase(key);
      if (sign > 0) where_[key].push_back(w);
      changed_.push_back(key);
    }
  }

  std::vector<std::vector<int>> words_;
  std::vector<int64_t> freq_;
  std::vector<uint64_t> stamp_;
  uint64_t round_ = 0;
  std::unordered_map<uint64_t, int64_t> counts_;
  std::unordered_map<uint64_t, std::vector<size_t>> where_;
  std::vector<uint64_t> changed_;
  std::priority_queue<Candidate> queue_;
};

}  // namespace

TestVocabulary train_bpe_vocabulary(const std::vector<std::string>& documents, const BpeTrainerOptions& options,
                                    BpeTrainerReport* report) {
  require(options.vocab_size > kFirstFreeId, "--vocab-size must be over ", kFirstFreeId,
          " (Gemma 4's special tokens and the 256 byte tokens come first)");
  require(!documents.empty(), "no text to train the tokenizer on");
  BpeTrainerReport local;
  BpeTrainerReport& r = report ? *report : local;

  std::unordered_map<std::string, int64_t> word_counts;
  for (const std::string& doc : documents) count_words(doc, word_counts);
  require(!word_counts.empty(), "no words in the tokenizer's training text");
  // A fixed order (the hash map's is not): by the word's bytes.
  std::vector<std::pair<std::string, int64_t>> table(word_counts.begin(), word_counts.end());
  std::sort(table.begin(), table.end());
  r.unique_words = static_cast<int64_t>(table.size());

  std::map<std::string, int64_t> char_counts;
  for (const auto& [word, count] : table) {
    r.words += count;
    for (const std::string& ch : characters_of(word)) char_counts[ch] += count;
  }

  TestVocabulary v;
  lay_out_fixed_ids(v);
  add_run_merges(v, "\n");
  add_run_merges(v, kSpace);
  std::unordered_map<std::string, int> id_of;
  for (size_t id = 0; id < v.tokens.size(); ++id)
    if (v.types[id] == GgufTokenType::Normal) id_of.emplace(v.tokens[id], static_cast<int>(id));
  auto add_piece = [&](const std::string& piece) {
    id_of[piece] = static_cast<int>(v.tokens.size());
    v.tokens.push_back(piece);
    v.types.push_back(GgufTokenType::Normal);
  };
  if (!id_of.count(kSpace)) add_piece(kSpace);
  std::vector<std::pair<std::string, int64_t>> chars(char_counts.begin(), char_counts.end());
  std::stable_sort(chars.begin(), chars.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
  for (const auto& [ch, count] : chars) {
    if (static_cast<int>(v.tokens.size()) >= options.vocab_size) break;
    if (count < options.min_char_count || id_of.count(ch) || utf8::valid_sequence_length(ch, 0) != ch.size()) continue;
    add_piece(ch);
    ++r.characters;
  }

  std::vector<std::vector<int>> words;
  std::vector<int64_t> freq;
  for (const auto& [word, count] : table) {
    std::vector<int> symbols;
    for (const std::string& ch : characters_of(word)) {
      auto it = id_of.find(ch);
      symbols.push_back(it == id_of.end() ? -1 : it->second);
    }
    words.push_back(std::move(symbols));
    freq.push_back(count);
  }
  MergeLearner learner(std::move(words), std::move(freq));
  std::unordered_map<std::string, bool> listed;  // the fixed run merges are learned again inside words
  for (const std::string& m : v.merges) listed[m] = true;
  int a = 0, b = 0;
  while (static_cast<int>(v.tokens.size()) < options.vocab_size && learner.best(a, b)) {
    const std::string piece = v.tokens[static_cast<size_t>(a)] + v.tokens[static_cast<size_t>(b)];
    const std::string rule = v.tokens[static_cast<size_t>(a)] + " " + v.tokens[static_cast<size_t>(b)];
    if (!listed[rule]) {
      v.merges.push_back(rule);
      ++r.merges;
    }
    int merged;
    if (auto it = id_of.find(piece); it != id_of.end()) {
      merged = it->second;  // e.g. a space run: the piece exists already
    } else {
      merged = static_cast<int>(v.tokens.size());
      add_piece(piece);
    }
    learner.merge(a, b, merged);
  }
  // A corpus too small for vocab_size merges: fill the rest so ids stay dense.
  for (int unused = 0; static_cast<int>(v.tokens.size()) < options.vocab_size; ++unused)
    add_piece("<unused_extra" + std::to_string(unused) + ">");
  return v;
}

}  // namespace facet
