#include "model/bnb_nf4.h"

#include <cmath>
#include <cstring>

#include "formats/safetensors.h"
#include "tensor/nf4.h"
#include "util/error.h"

namespace facet {
namespace {

constexpr const char* kStateNf4 = ".quant_state.bitsandbytes__nf4";
constexpr const char* kStateFp4 = ".quant_state.bitsandbytes__fp4";

// A companion tensor of `name`, checked for dtype and element count.
const SafetensorsTensor& companion(const SafetensorsSet& set, const std::string& name, const std::string& suffix,
                                   const char* dtype, int64_t count) {
  const SafetensorsTensor* t = set.find(name + suffix);
  require(t != nullptr, set.path(), ": bitsandbytes 4-bit weight ", name, " has no ", name, suffix);
  require(t->dtype_name == dtype, set.path(), ": tensor ", name, suffix, " has dtype ", t->dtype_name, ", expected ",
          dtype);
  const uint64_t bytes = static_cast<uint64_t>(count) * (t->dtype_name == "U8" ? 1 : 4);
  require(t->byte_size == bytes, set.path(), ": tensor ", name, suffix, " holds ", t->byte_size, " bytes, expected ",
          bytes, " (", count, " values of ", dtype, ")");
  return *t;
}

std::vector<float> f32_values(const SafetensorsTensor& t) {
  std::vector<float> v(static_cast<size_t>(t.byte_size / 4));
  if (!v.empty()) std::memcpy(v.data(), t.view.data, v.size() * 4);  // safetensors data may be unaligned
  return v;
}

nlohmann::json quant_state_json(const SafetensorsSet& set, const std::string& name) {
  const SafetensorsTensor* t = set.find(name + kStateNf4);
  require(t != nullptr, set.path(), ": bitsandbytes 4-bit weight ", name, " has no ", name, kStateNf4);
  require(t->dtype_name == "U8", set.path(), ": tensor ", name, kStateNf4, " has dtype ", t->dtype_name,
          ", expected U8 (UTF-8 JSON)");
  const std::string text(reinterpret_cast<const char*>(t->view.data), static_cast<size_t>(t->byte_size));
  nlohmann::json state = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  require(!state.is_discarded() && state.is_object(), set.path(), ": tensor ", name, kStateNf4,
          " is not a JSON object");
  return state;
}

int64_t positive_int(const nlohmann::json& state, const char* key, const std::string& where) {
  auto it = state.find(key);
  require(it != state.end() && it->is_number_integer() && it->get<int64_t>() > 0, where, ": \"", key,
          "\" must be a positive integer");
  return it->get<int64_t>();
}

}  // namespace

bool is_bnb_4bit_weight(const SafetensorsSet& set, const std::string& name) {
  return set.find(name + kStateNf4) != nullptr || set.find(name + kStateFp4) != nullptr ||
         set.find(name + ".absmax") != nullptr;
}

BnbWeight load_bnb_nf4_weight(const SafetensorsSet& set, const std::string& name) {
  require(set.find(name + kStateFp4) == nullptr, set.path(), ": tensor ", name,
          " is bitsandbytes FP4; facet supports only NF4 (bnb_4bit_quant_type \"nf4\")");
  const nlohmann::json state = quant_state_json(set, name);
  const std::string where = set.path() + ": " + name + kStateNf4;
  const auto type = state.find("quant_type");
  require(type != state.end() && type->is_string(), where, ": \"quant_type\" is missing");
  require(*type == "nf4", where, ": quant_type \"", type->get<std::string>(),
          "\" is not supported (facet loads bitsandbytes NF4 only)");
  const int64_t blocksize = positive_int(state, "blocksize", where);
  require(blocksize == kNf4Block, where, ": blocksize ", blocksize, " is not supported (facet supports NF4 with ",
          kNf4Block, "-element blocks, the bitsandbytes default)");
  const auto shape_it = state.find("shape");
  require(shape_it != state.end() && shape_it->is_array() && shape_it->size() == 2, where,
          ": \"shape\" must be [out_features, in_features]");
  std::vector<int64_t> shape;
  for (const auto& d : *shape_it) {
    require(d.is_number_integer() && d.get<int64_t>() > 0 && d.get<int64_t>() <= (int64_t{1} << 31), where,
            ": \"shape\" must hold two positive integers");
    shape.push_back(d.get<int64_t>());
  }
  const int64_t n = shape[0] * shape[1], n_blocks = (n + kNf4Block - 1) / kNf4Block;

  const SafetensorsTensor& packed = companion(set, name, "", "U8", (n + 1) / 2);
  const SafetensorsTensor& quant_map = companion(set, name, ".quant_map", "F32", 16);
  const std::vector<float> map = f32_values(quant_map);
  for (size_t i = 0; i < 16; ++i)
    require(std::fabs(map[i] - kNf4Codebook[i]) <= 1e-6f, set.path(), ": tensor ", name,
            ".quant_map is not the NF4 code book (entry ", i, " is ", map[i], ", expected ", kNf4Codebook[i], ")");

  std::vector<float> absmax;
  if (state.contains("nested_blocksize") || set.find(name + ".nested_absmax") != nullptr) {
    // Double quantization: 8-bit absmax codes + per-256 scales + the mean as offset.
    const int64_t nested_block = positive_int(state, "nested_blocksize", where);
    const auto offset = state.find("nested_offset");
    require(offset != state.end() && offset->is_number(), where, ": \"nested_offset\" must be a number");
    const SafetensorsTensor& codes = companion(set, name, ".absmax", "U8", n_blocks);
    const std::vector<float> nested_absmax = f32_values(
        companion(set, name, ".nested_absmax", "F32", (n_blocks + nested_block - 1) / nested_block));
    const std::vector<float> nested_map = f32_values(companion(set, name, ".nested_quant_map", "F32", 256));
    absmax = decode_nested_absmax(codes.view.data, n_blocks, nested_map.data(), nested_absmax.data(), nested_block,
                                  offset->get<float>());
  } else {
    absmax = f32_values(companion(set, name, ".absmax", "F32", n_blocks));
  }
  for (float a : absmax)
    require(std::isfinite(a), set.path(), ": tensor ", name, " has a non-finite block absmax");

  BnbWeight w;
  if (shape[1] % kNf4Block == 0) {
    w.storage = bnb_nf4_to_runtime(packed.view.data, absmax.data(), shape[0], shape[1]);
    w.view.dtype = DType::NF4;
  } else {
    w.storage.resize(static_cast<size_t>(n) * 4);
    for (int64_t i = 0; i < n; ++i) {
      const float v = bnb_nf4_element(packed.view.data, absmax.data(), i);
      std::memcpy(w.storage.data() + i * 4, &v, 4);
    }
    w.view.dtype = DType::F32;
  }
  w.view.shape = shape;
  w.view.data = w.storage.data();
  return w;
}

void check_quantization_config(const nlohmann::json& config, const std::string& where) {
  auto it = config.find("quantization_config");
  if (it == config.end() || it->is_null()) return;
  require(it->is_object(), where, ": \"quantization_config\" must be an object");
  const nlohmann::json& q = *it;
  const std::string method = q.contains("quant_method") && q["quant_method"].is_string()
                                 ? q["quant_method"].get<std::string>() : "";
  require(method == "bitsandbytes", where, ": quantization method \"", method,
          "\" is not supported (facet loads bitsandbytes NF4 checkpoints; convert others to GGUF)");
  require(!q.value("load_in_8bit", false), where,
          ": bitsandbytes 8-bit (load_in_8bit) checkpoints are not supported; facet loads 4-bit NF4");
  auto type = q.find("bnb_4bit_quant_type");
  if (type != q.end() && type->is_string())
    require(*type == "nf4", where, ": bnb_4bit_quant_type \"", type->get<std::string>(),
            "\" is not supported (facet loads bitsandbytes NF4 only)");
}

}  // namespace facet
