#include "support/gguf_edit.h"

namespace facet::test {

void copy_gguf_with_metadata(const std::string& from, const std::string& to,
                             const std::map<std::string, GgufValue>& set,
                             const std::vector<std::string>& remove_prefixes) {
  auto file = GgufFile::open(from);
  GgufWriter writer;
  writer.set_alignment(static_cast<uint32_t>(file->alignment()));
  for (const auto& [key, value] : file->metadata()) {
    if (key == "general.alignment" || set.count(key) > 0) continue;
    bool removed = false;
    for (const auto& prefix : remove_prefixes) removed |= key.rfind(prefix, 0) == 0;
    if (!removed) writer.set(key, value);
  }
  for (const auto& [key, value] : set) writer.set(key, value);
  for (const GgufTensor& t : file->tensors()) writer.add_tensor(t.name, t.view.dtype, t.view.shape, t.view.data);
  writer.write(to);  // `file` (and the tensor bytes it maps) stays open until here
}

}  // namespace facet::test
