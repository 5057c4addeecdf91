// Sources of draft tokens for speculative decoding. A drafter guesses the next few tokens
// cheaply; the main model then runs them all in one forward pass and keeps the longest
// prefix it agrees with (see Generator::generate), so the output is the main model's own,
// only sooner. Two kinds here:
//   - PromptLookupDrafter (llama.cpp's "lookup" / vLLM's "ngram"): finds the last few
//     tokens earlier in the context and proposes what followed them there. Free, and good
//     where answers quote the prompt (summaries, code edits, RAG, JSON).
//   - ModelDrafter: a smaller model with the same vocabulary (e.g. a Gemma 4 E2B drafting
//     for a 31B, or a drafter trained by facet), run greedily with its own KV cache.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"

namespace facet {

class Generator;

class Drafter {
 public:
  virtual ~Drafter() = default;
  // Up to `max` tokens that likely come after `sequence` (the whole context so far: prompt
  // and answer, its last token not yet run by the main model). May return fewer or none.
  // Drafts are guesses: a drafter may return any ids below the main model's vocabulary.
  virtual std::vector<int32_t> propose(const std::vector<int32_t>& sequence, int max) = 0;
  virtual std::string name() const = 0;  // for logs and `facet bench`
};

class PromptLookupDrafter : public Drafter {
 public:
  // Matches the last n tokens for n from `max_ngram` down to `min_ngram` (the longest
  // match wins; among equal ones the most recent).
  explicit PromptLookupDrafter(int min_ngram = 2, int max_ngram = 4);
  std::vector<int32_t> propose(const std::vector<int32_t>& sequence, int max) override;
  std::string name() const override { return "prompt lookup"; }

 private:
  int min_ngram_, max_ngram_;
};

class ModelDrafter : public Drafter {
 public:
  // `draft` must share the main model's tokenizer: a different vocabulary size is an
  // Error naming both. `context_size` as the main generator's; `max_draft` bounds how far
  // back its cache must rewind after a rejection. The model must outlive the drafter.
  ModelDrafter(const Model& draft, const ModelConfig& main, int64_t context_size, int max_draft, int threads);
  ~ModelDrafter() override;
  std::vector<int32_t> propose(const std::vector<int32_t>& sequence, int max) override;
  std::string name() const override { return "draft model"; }

 private:
  std::unique_ptr<Generator> generator_;  // the drafter's cache; reuses the shared prefix each step
  int64_t vocab_;
};

}  // namespace facet
