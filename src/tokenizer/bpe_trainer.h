// Trains a small BPE vocabulary in Gemma 4's format (`facet train-tokenizer`), for models
// whose embedding must stay small (the bundled default model).
//
// The result keeps Gemma 4's conventions so the runtime, the chat template and llama.cpp
// treat it like the real tokenizer (tokenizer spec §1):
//   ids 0..237    the special tokens at their Gemma 4 ids (<pad> 0, <eos> 1, <bos> 2, <unk> 3,
//                 <mask> 4, the tool/think/channel markers, <|turn> 105, <turn|> 106), the
//                 "\n" runs (107..137) and "▁" runs (138..167); other ids <unusedN>;
//   ids 238..493  the byte-fallback tokens <0x00>..<0xFF> (238 + byte);
//   then          "▁" and the corpus's characters (most frequent first, those seen at
//                 least min_char_count times), then one piece per learned merge, in merge
//                 order, until vocab_size.
// Normalization is Gemma 4's (space -> "▁", nothing else). Merges are learned within
// words: a word is a run of "▁"s and the characters up to the next "▁" or newline, so no
// merge ever joins a character to a following "▁" or mixes newlines with text, and
// encoding a whole text with the merges equals encoding it word by word.
//
// Training is the standard greedy algorithm: repeatedly merge the most frequent adjacent
// pair (ties: the pair whose pieces come first by id), with pair counts updated
// incrementally. The result depends only on the documents and the options.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/test_vocabulary.h"

namespace facet {

struct BpeTrainerOptions {
  int vocab_size = 8192;
  int64_t min_char_count = 2;  // rarer characters are left to byte fallback
};

struct BpeTrainerReport {
  int64_t words = 0;         // word occurrences in the corpus
  int64_t unique_words = 0;
  int characters = 0;        // base character pieces
  int merges = 0;            // learned merges (the fixed "▁"/"\n" run merges not counted)
};

TestVocabulary train_bpe_vocabulary(const std::vector<std::string>& documents, const BpeTrainerOptions& options,
                                    BpeTrainerReport* report = nullptr);

}  // namespace facet
