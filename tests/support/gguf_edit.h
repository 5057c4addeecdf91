// Copies a GGUF file with metadata keys added, replaced or removed (e.g. a model with and
// without tokenizer.chat_template), tensors unchanged.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "formats/gguf.h"

namespace facet::test {

// Keys in `remove` are dropped, as is every key starting with a prefix in `remove_prefixes`;
// `set` adds or replaces keys.
void copy_gguf_with_metadata(const std::string& from, const std::string& to,
                             const std::map<std::string, GgufValue>& set,
                             const std::vector<std::string>& remove_prefixes = {});

}  // namespace facet::test
