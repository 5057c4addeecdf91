#include "tensor/nf4.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "util/error.h"

namespace facet {

const std::array<float, 16> kNf4Codebook = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

namespace {

// torch.linspace(0.1, 1, steps) in f32: the first half counts up from start, the second
// half down from end (PyTorch does this so both ends are exact).
std::vector<float> linspace_f32(float start, float end, int steps) {
  std::vector<float> v(static_cast<size_t>(steps));
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int halfway = steps / 2;
  for (int i = 0; i < steps; ++i)
    v[static_cast<size_t>(i)] = i < halfway ? start + step * static_cast<float>(i)
                                            : end - step * static_cast<float>(steps - i - 1);
  return v;
}

std::array<float, 256> build_dynamic_map_signed() {
  // 7 exponent levels 10^-6 .. 10^0; level i has 2^i linear fractions (means of
  // linspace(0.1, 1) intervals), each with both signs; plus 0 and 1: 2·127 + 2 = 256.
  std::vector<float> data;
  for (int i = 0; i < 7; ++i) {
    const std::vector<float> bounds = linspace_f32(0.1f, 1.0f, (1 << i) + 1);
    const float scale = static_cast<float>(std::pow(10.0, -6 + i));
    for (size_t k = 0; k + 1 < bounds.size(); ++k) {
      const float mean = (bounds[k] + bounds[k + 1]) / 2.0f;
      data.push_back(scale * mean);
      data.push_back(-(scale * mean));
    }
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  std::array<float, 256> out{};
  std::copy(data.begin(), data.end(), out.begin());
  return out;
}

// Nearest entry of a sorted table (ties to the lower entry).
uint8_t nearest_in_sorted(const std::array<float, 256>& table, float x) {
  const auto it = std::lower_bound(table.begin(), table.end(), x);
  if (it == table.begin()) return 0;
  if (it == table.end()) return 255;
  const auto below = it - 1;
  return static_cast<uint8_t>((x - *below <= *it - x ? below : it) - table.begin());
}

float load_f32(const uint8_t* p) {
  float f;
  std::memcpy(&f, p, 4);
  return f;
}

}  // namespace

const std::array<float, 256>& dynamic_map_signed() {
  static const std::array<float, 256> table = build_dynamic_map_signed();
  return table;
}

uint8_t nf4_nearest_code(float x) {
  // Bucketize against the 15 midpoints: a value above a midpoint takes the upper code.
  uint8_t code = 0;
  for (int i = 0; i < 15; ++i)
    if (x > (kNf4Codebook[static_cast<size_t>(i)] + kNf4Codebook[static_cast<size_t>(i) + 1]) * 0.5f)
      code = static_cast<uint8_t>(i + 1);
  return code;
}

void dequantize_row_nf4(const void* src, float* dst, int64_t n) {
  require(n % kNf4Block == 0, "row of ", n, " elements is not whole NF4 blocks");
  // Both codebook values of every byte (high nibble first), so a byte is one 8-byte copy; the
  // block is then scaled in a loop the compiler vectorises. Same products as one lookup and
  // multiply per element, a few times faster (NF4 matmuls decode every row once per call).
  static const auto pairs = [] {
    std::array<std::array<float, 2>, 256> table{};
    for (int byte = 0; byte < 256; ++byte)
      table[static_cast<size_t>(byte)] = {kNf4Codebook[byte >> 4], kNf4Codebook[byte & 15]};
    return table;
  }();
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t b = 0; b < n / kNf4Block; ++b, s += kNf4BlockBytes) {
    const float absmax = load_f32(s);
    float* d = dst + b * kNf4Block;
    for (int j = 0; j < kNf4Block / 2; ++j) std::memcpy(d + 2 * j, pairs[s[4 + j]].data(), 2 * sizeof(float));
    for (int i = 0; i < kNf4Block; ++i) d[i] *= absmax;
  }
}

void quantize_row_nf4(const float* src, void* dst, int64_t n) {
  require(n % kNf4Block == 0, "row of ", n, " elements is not whole NF4 blocks");
  auto* d = static_cast<uint8_t*>(dst);
  for (int64_t b = 0; b < n / kNf4Block; ++b, d += kNf4BlockBytes) {
    const float* x = src + b * kNf4Block;
    float absmax = 0;
    for (int j = 0; j < kNf4Block; ++j) absmax = std::max(absmax, std::fabs(x[j]));
    std::memcpy(d, &absmax, 4);
    const float divisor = std::max(absmax, 1e-38f);
    auto code = [&](int j) { return nf4_nearest_code(std::clamp(x[j] / divisor, -1.0f, 1.0f)); };
    for (int j = 0; j < kNf4Block / 2; ++j) d[4 + j] = static_cast<uint8_t>((code(2 * j) << 4) | code(2 * j + 1));
  }
}

BnbNf4Quantized quantize_bnb_nf4(const float* w, int64_t n) {
  require(n > 0, "cannot NF4-quantize an empty tensor");
  const int64_t n_blocks = (n + kNf4Block - 1) / kNf4Block;
  BnbNf4Quantized q;
  q.packed.assign(static_cast<size_t>((n + 1) / 2), 0);
  std::vector<float> absmax(static_cast<size_t>(n_blocks));
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t begin = b * kNf4Block, end = std::min(n, begin + kNf4Block);
    float m = 0;
    for (int64_t i = begin; i < end; ++i) m = std::max(m, std::fabs(w[i]));
    absmax[static_cast<size_t>(b)] = m;
    const float divisor = std::max(m, 1e-38f);
    for (int64_t i = begin; i < end; ++i) {
      const uint8_t c = nf4_nearest_code(std::clamp(w[i] / divisor, -1.0f, 1.0f));
      q.packed[static_cast<size_t>(i / 2)] |= static_cast<uint8_t>(i % 2 == 0 ? c << 4 : c);
    }
  }
  // Double quantization: the mean (f32, as torch's mean of an f32 tensor rounds it) comes
  // off first, so the 8-bit codes spend their range on the spread of the scales.
  double sum = 0;
  for (float a : absmax) sum += a;
  q.offset = static_cast<float>(sum / static_cast<double>(n_blocks));
  const auto& table = dynamic_map_signed();
  const int64_t n_nested = (n_blocks + kNf4NestedBlock - 1) / kNf4NestedBlock;
  q.absmax_codes.resize(static_cast<size_t>(n_blocks));
  q.nested_absmax.resize(static_cast<size_t>(n_nested));
  for (int64_t g = 0; g < n_nested; ++g) {
    const int64_t begin = g * kNf4NestedBlock, end = std::min(n_blocks, begin + kNf4NestedBlock);
    float m = 0;
    for (int64_t b = begin; b < end; ++b) m = std::max(m, std::fabs(absmax[static_cast<size_t>(b)] - q.offset));
    q.nested_absmax[static_cast<size_t>(g)] = m;
    const float divisor = std::max(m, 1e-38f);
    for (int64_t b = begin; b < end; ++b)
      q.absmax_codes[static_cast<size_t>(b)] =
          nearest_in_sorted(table, std::clamp((absmax[static_cast<size_t>(b)] - q.offset) / divisor, -1.0f, 1.0f));
  }
  return q;
}

std::vector<float> decode_nested_absmax(const uint8_t* codes, int64_t n_blocks, const float* nested_map,
                                        const float* nested_absmax, int64_t nested_block, float offset) {
  std::vector<float> out(static_cast<size_t>(n_blocks));
  for (int64_t b = 0; b < n_blocks; ++b)
    out[static_cast<size_t>(b)] = nested_map[codes[b]] * nested_absmax[b / nested_block] + offset;
  return out;
}

float bnb_nf4_element(const uint8_t* packed, const float* absmax, int64_t i) {
  const uint8_t byte = packed[i / 2];
  const uint8_t code = i % 2 == 0 ? byte >> 4 : byte & 15;
  return kNf4Codebook[code] * absmax[i / kNf4Block];
}

std::vector<uint8_t> bnb_nf4_to_runtime(const uint8_t* packed, const float* absmax, int64_t rows, int64_t cols) {
  require(cols % kNf4Block == 0, "internal: runtime NF4 needs rows of whole 64-blocks, got ", cols);
  const int64_t n_blocks = rows * cols / kNf4Block;
  std::vector<uint8_t> out(static_cast<size_t>(n_blocks * kNf4BlockBytes));
  for (int64_t b = 0; b < n_blocks; ++b) {
    uint8_t* d = out.data() + b * kNf4BlockBytes;
    std::memcpy(d, &absmax[b], 4);
    std::memcpy(d + 4, packed + b * (kNf4Block / 2), kNf4Block / 2);
  }
  return out;
}

}  // namespace facet
