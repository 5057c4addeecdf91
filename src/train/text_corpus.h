// Plain-text training data for `facet pretrain`: .txt files, whose documents are separated
// by blank lines, or JSON-lines files of {"text": ...} rows (one document each).
//
// Each document is tokenized as <bos> text <eos> with every token trained. A document
// longer than max_seq_len is cut into consecutive windows of max_seq_len tokens (nothing
// is dropped, unlike SFT truncation); a window of one token has nothing to predict and is
// left out. Pack the result (train/packing.h) to fill each sequence.
//
// Bad input is an Error naming the file: a missing or empty file, no text at all, bytes
// that are not UTF-8 text (a NUL byte or an invalid sequence: a binary file), a JSONL row
// without a "text" string (with its line number).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "train/dataset.h"

namespace facet::train {

struct CorpusReport {
  int64_t documents = 0;
  int64_t windows = 0;  // training sequences out
  int64_t tokens = 0;
  int64_t bytes = 0;
  std::string summary() const;  // "412 documents, 1.2 MB, 310540 tokens in 640 windows"
};

// The documents of one file (the blank-line split or the JSONL rows), checked as text.
std::vector<std::string> read_text_documents(const std::string& path);

std::vector<SftExample> load_text_corpus(const std::string& path, const Tokenizer& tokenizer, int64_t max_seq_len,
                                         CorpusReport* report = nullptr);

}  // namespace facet::train
