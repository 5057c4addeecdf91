// The tokenizer vocabulary stored in a GGUF model file.
#pragma once

#include <string>

#include "tokenizer/vocabulary.h"

namespace facet {

class GgufFile;

// Fills a TokenizerVocab from tokenizer.ggml.{model, tokens, token_type, merges,
// bos/eos/padding/unknown_token_id, add_bos_token}. Requires tokenizer.ggml.model ==
// "gemma4". Throws Error naming the file and key on missing or malformed metadata.
TokenizerVocab load_gguf_vocabulary(const GgufFile& file);
TokenizerVocab load_gguf_vocabulary(const std::string& path);

}  // namespace facet
