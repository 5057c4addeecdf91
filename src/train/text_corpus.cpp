#include "train/text_corpus.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "chat/chat_types.h"
#include "tokenizer/utf8.h"
#include "util/error.h"

namespace facet::train {
namespace {

bool ends_with(const std::string& s, const char* suffix) {
  const std::string x = suffix;
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

// Throws when `text` is not UTF-8 text: a NUL byte or a malformed sequence.
void check_text(const std::string& path, const std::string& text) {
  const size_t nul = text.find('\0');
  require(nul == std::string::npos, path, ": byte ", nul, " is NUL: this is a binary file, not text");
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = utf8::valid_sequence_length(text, pos);
    require(length > 0, path, ": byte ", pos, " is not valid UTF-8: expected a text file");
    pos += length;
  }
}

std::vector<std::string> split_paragraphs(const std::string& text) {
  std::vector<std::string> docs;
  std::istringstream in(text);
  std::string line, current;
  auto flush = [&] {
    while (!current.empty() && (current.back() == '\n' || current.back() == ' ')) current.pop_back();
    if (!current.empty()) docs.push_back(current);
    current.clear();
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) {
      flush();
      continue;
    }
    current += line;
    current += '\n';
  }
  flush();
  return docs;
}

}  // namespace

std::string CorpusReport::summary() const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%lld documents, %.2f MB, %lld tokens in %lld windows",
                static_cast<long long>(documents), static_cast<double>(bytes) / 1e6, static_cast<long long>(tokens),
                static_cast<long long>(windows));
  return buf;
}

std::vector<std::string> read_text_documents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(in.good(), path, ": cannot open the file");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  require(!text.empty(), path, ": the file is empty");
  check_text(path, text);
  std::vector<std::string> docs;
  if (ends_with(path, ".jsonl") || ends_with(path, ".json")) {
    std::istringstream lines(text);
    std::string line;
    int64_t number = 0;
    while (std::getline(lines, line)) {
      ++number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      chat::Json row;
      try {
        row = chat::Json::parse(line);
      } catch (const std::exception& e) {
        fail(path, ":", number, ": not a JSON object (", e.what(), ")");
      }
      require(row.is_object() && row.contains("text") && row["text"].is_string(), path, ":", number,
              ": a pretraining row needs a \"text\" string");
      const std::string doc = row["text"].get<std::string>();
      if (!doc.empty()) docs.push_back(doc);
    }
  } else {
    docs = split_paragraphs(text);
  }
  require(!docs.empty(), path, ": no text in the file");
  return docs;
}

std::vector<SftExample> load_text_corpus(const std::string& path, const Tokenizer& tokenizer, int64_t max_seq_len,
                                         CorpusReport* report) {
  require(max_seq_len >= 2, "--max-seq-len must be at least 2");
  CorpusReport local;
  CorpusReport& r = report ? *report : local;
  std::vector<SftExample> out;
  int64_t number = 0;
  for (const std::string& doc : read_text_documents(path)) {
    ++number;
    ++r.documents;
    r.bytes += static_cast<int64_t>(doc.size());
    EncodeOptions bos;
    bos.add_bos = true;
    std::vector<int32_t> ids = tokenizer.encode(doc, bos);
    ids.push_back(tokenizer.eos_id());
    r.tokens += static_cast<int64_t>(ids.size());
    for (size_t start = 0; start < ids.size(); start += static_cast<size_t>(max_seq_len)) {
      const size_t end = std::min(ids.size(), start + static_cast<size_t>(max_seq_len));
      if (end - start < 2) continue;  // one token predicts nothing
      SftExample ex;
      ex.tokens.assign(ids.begin() + static_cast<std::ptrdiff_t>(start), ids.begin() + static_cast<std::ptrdiff_t>(end));
      ex.trained.assign(ex.tokens.size(), 1);
      ex.line = number;
      out.push_back(std::move(ex));
      ++r.windows;
    }
  }
  return out;
}

}  // namespace facet::train
