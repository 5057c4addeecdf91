// Reads the tokenizer.ggml.* metadata of a GGUF file (model "gemma4", as llama.cpp's
// Gemma 4 converter writes it) into a TokenizerVocab.
#include <memory>

#include "formats/gguf.h"
#include "tokenizer/gguf_vocabulary.h"
#include "util/error.h"

namespace facet {
namespace {

int32_t token_id_or_none(const GgufFile& file, const char* key, size_t vocab_size) {
  int64_t id = file.get_int_or(key, -1);
  require(id >= -1 && id < static_cast<int64_t>(vocab_size), file.path(), ": metadata key ", key, " = ", id,
          " is outside the vocabulary of ", vocab_size, " tokens");
  return static_cast<int32_t>(id);
}

}  // namespace

TokenizerVocab load_gguf_vocabulary(const GgufFile& file) {
  const std::string model = file.get_string_or("tokenizer.ggml.model", "");
  require(model == "gemma4", file.path(), ": metadata key tokenizer.ggml.model is \"", model,
          "\", expected \"gemma4\" (the Gemma 4 BPE vocabulary)");

  TokenizerVocab vocab;
  vocab.source = file.path();
  vocab.tokens = file.get_string_array("tokenizer.ggml.tokens");
  require(!vocab.tokens.empty(), file.path(), ": metadata key tokenizer.ggml.tokens is empty");
  if (file.has("tokenizer.ggml.token_type")) {
    for (int64_t type : file.get_int_array("tokenizer.ggml.token_type", vocab.tokens.size())) {
      require(type >= 0 && type <= static_cast<int64_t>(TokenType::kByte), file.path(),
              ": metadata key tokenizer.ggml.token_type holds ", type, ", expected a llama.cpp token type 0..6");
      vocab.token_types.push_back(static_cast<int32_t>(type));
    }
  }
  vocab.merges = file.get_string_array("tokenizer.ggml.merges");
  vocab.bos_id = token_id_or_none(file, "tokenizer.ggml.bos_token_id", vocab.tokens.size());
  vocab.eos_id = token_id_or_none(file, "tokenizer.ggml.eos_token_id", vocab.tokens.size());
  vocab.pad_id = token_id_or_none(file, "tokenizer.ggml.padding_token_id", vocab.tokens.size());
  vocab.unk_id = token_id_or_none(file, "tokenizer.ggml.unknown_token_id", vocab.tokens.size());
  vocab.add_bos = file.get_bool_or("tokenizer.ggml.add_bos_token", false);
  return vocab;
}

TokenizerVocab load_gguf_vocabulary(const std::string& path) { return load_gguf_vocabulary(*GgufFile::open(path)); }

}  // namespace facet
