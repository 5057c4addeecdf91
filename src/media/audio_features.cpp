// Gemma 4's log-mel features, following transformers' Gemma4AudioFeatureExtractor
// (models/gemma4/feature_extraction_gemma4.py, read at commit b7e725fe) step by step:
//   1. truncate to max_length = 30 s (480000 samples at 16 kHz); no dither, scale 1, no
//      preemphasis (the released defaults);
//   2. "semicausal" padding: frame_length/2 = 160 zeros in front;
//   3. windows of frame_length + 1 = 321 samples every hop = 160 samples, of which the first 320
//      are used (the 321st exists only for HTK preemphasis, which is off);
//      frames = (padded - 321) // 160 + 1;
//   4. multiply by a periodic Hann window w[n] = 0.5 - 0.5 cos(2 pi n / 320);
//   5. rfft with n = 512: the frame is right-padded with zeros, 257 bins;
//   6. magnitude |X| (not power);
//   7. mel = |X| @ fb with audio_utils.mel_filter_bank(257, 128, 0, 8000, 16000, norm=None,
//      mel_scale="htk"): edges evenly spaced on mel(f) = 2595 log10(1 + f/700), FFT bin k at
//      k * (sr//2) / 256 Hz, triangles min(rising, falling) clipped at 0, no area normalisation;
//   8. ln(mel + 1e-3) (an additive floor, unlike llama.cpp's max(mel, 1e-3)).
// transformers pads a batch to a multiple of 128 samples and zeroes the frames whose last window
// sample is padding; those frames are not produced here, so every frame returned is valid.
// Precision: transformers rounds the window and the windowed frame to float32 and transforms in
// float64; here everything after the float input samples is double, rounded to float at the end.
#include "media/audio_features.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <numbers>

#include "util/error.h"

namespace facet {
namespace {

constexpr int kMaxSoftTokens = 750;  // processor audio_seq_length: 30 s at 40 ms a token

bool is_power_of_two(int n) { return n > 0 && (n & (n - 1)) == 0; }

void check_config(const AudioFeatureConfig& c) {
  require(c.sample_rate > 0, "audio features: sample_rate must be positive, got ", c.sample_rate);
  require(c.frame_length >= 2 && c.hop_length >= 1, "audio features: frame_length (", c.frame_length,
          ") must be >= 2 and hop_length (", c.hop_length, ") >= 1");
  require(is_power_of_two(c.fft_length) && c.fft_length >= c.frame_length && c.fft_length <= (1 << 16),
          "audio features: fft_length ", c.fft_length, " must be a power of two from frame_length (",
          c.frame_length, ") to 65536");
  require(c.mel_bins >= 1 && c.mel_bins <= 4096, "audio features: mel_bins ", c.mel_bins,
          " must be 1 to 4096");
  require(c.min_hz >= 0 && c.min_hz < c.max_hz, "audio features: need 0 <= min_hz (", c.min_hz,
          ") < max_hz (", c.max_hz, ")");
  require(c.log_floor > 0, "audio features: log_floor must be positive, got ", c.log_floor);
  require(c.max_seconds > 0, "audio features: max_seconds must be positive, got ", c.max_seconds);
}

// In-place iterative radix-2 complex FFT (decimation in time) for one fixed power-of-two size:
// the bit-reversal permutation and the twiddles are computed once per feature extraction.
class Fft {
 public:
  explicit Fft(int size) : size_(size), reversed_(size), twiddles_(size / 2) {
    int bits = 0;
    while ((1 << bits) < size) ++bits;
    for (int i = 0; i < size; ++i) {
      int r = 0;
      for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
      reversed_[i] = r;
    }
    for (int k = 0; k < size / 2; ++k) {
      const double angle = -2.0 * std::numbers::pi * k / size;
      twiddles_[k] = {std::cos(angle), std::sin(angle)};
    }
  }

  void transform(std::vector<std::complex<double>>& x) const {
    for (int i = 0; i < size_; ++i) {
      if (i < reversed_[i]) std::swap(x[i], x[reversed_[i]]);
    }
    for (int half = 1; half < size_; half *= 2) {
      const int stride = size_ / (2 * half);  // twiddle index step at this stage
      for (int start = 0; start < size_; start += 2 * half) {
        for (int j = 0; j < half; ++j) {
          const std::complex<double> odd = twiddles_[j * stride] * x[start + j + half];
          x[start + j + half] = x[start + j] - odd;
          x[start + j] += odd;
        }
      }
    }
  }

 private:
  int size_;
  std::vector<int> reversed_;
  std::vector<std::complex<double>> twiddles_;
};

double hz_to_mel_htk(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double mel_to_hz_htk(double mel) { return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0); }

// One triangular filter, stored as its non-zero span of FFT bins.
struct MelFilter {
  int first_bin = 0;
  std::vector<double> weights;
};

std::vector<MelFilter> mel_filters(const AudioFeatureConfig& c) {
  const int bins = c.fft_length / 2 + 1;
  const int edges_count = c.mel_bins + 2;
  const double mel_low = hz_to_mel_htk(c.min_hz), mel_high = hz_to_mel_htk(c.max_hz);
  std::vector<double> edges(edges_count);
  for (int i = 0; i < edges_count; ++i) {
    const double mel = i == edges_count - 1 ? mel_high : mel_low + (mel_high - mel_low) * i / (edges_count - 1);
    edges[i] = mel_to_hz_htk(mel);
  }
  // numpy.linspace(0, sampling_rate // 2, bins): the integer half rate, as transformers writes it.
  const double nyquist = static_cast<double>(c.sample_rate / 2);
  std::vector<MelFilter> filters(c.mel_bins);
  for (int m = 0; m < c.mel_bins; ++m) {
    const double left = edges[m], centre = edges[m + 1], right = edges[m + 2];
    int first = -1;
    std::vector<double> weights;
    for (int k = 0; k < bins; ++k) {
      const double hz = nyquist * k / (bins - 1);
      const double rising = (hz - left) / (centre - left);
      const double falling = (right - hz) / (right - centre);
      const double weight = std::max(0.0, std::min(rising, falling));
      if (weight > 0) {
        if (first < 0) first = k;
        weights.resize(k - first + 1, 0.0);
        weights[k - first] = weight;
      }
    }
    filters[m] = {std::max(first, 0), std::move(weights)};  // empty when no bin falls inside
  }
  return filters;
}

}  // namespace

int audio_feature_frames(int64_t samples, const AudioFeatureConfig& config) {
  if (samples <= 0 || config.hop_length <= 0) return 0;
  const int64_t padded = samples + config.frame_length / 2;
  const int64_t window = config.frame_length + 1;
  if (padded < window) return 0;
  return static_cast<int>(std::min<int64_t>((padded - window) / config.hop_length + 1, INT32_MAX));
}

int audio_soft_tokens(int frames) {
  if (frames <= 0) return 0;
  const int after_first_conv = (frames + 1) / 2;
  const int after_second_conv = (after_first_conv + 1) / 2;
  return std::min(after_second_conv, kMaxSoftTokens);
}

AudioFeatures audio_features(const AudioClip& clip16k, const AudioFeatureConfig& config) {
  check_config(config);
  require(clip16k.sample_rate == config.sample_rate, "audio features need audio at ", config.sample_rate,
          " Hz, got ", clip16k.sample_rate, " Hz (resample it first)");

  const int64_t max_samples = static_cast<int64_t>(std::floor(std::min(config.max_seconds * config.sample_rate, 9.0e18)));
  const int64_t used = std::min<int64_t>(static_cast<int64_t>(clip16k.samples.size()), max_samples);

  AudioFeatures out;
  out.mel_bins = config.mel_bins;
  out.frames = audio_feature_frames(used, config);
  if (out.frames == 0) return out;
  out.values.resize(static_cast<size_t>(out.frames) * config.mel_bins);

  const int frame_length = config.frame_length, fft_length = config.fft_length;
  const int64_t pad_front = frame_length / 2;
  std::vector<double> window(frame_length);
  for (int n = 0; n < frame_length; ++n) {
    window[n] = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * n / frame_length);  // periodic Hann
  }
  const std::vector<MelFilter> filters = mel_filters(config);
  const Fft fft(fft_length);
  std::vector<std::complex<double>> spectrum(fft_length);
  std::vector<double> magnitude(fft_length / 2 + 1);
  const float* samples = clip16k.samples.data();

  for (int frame = 0; frame < out.frames; ++frame) {
    // Padded position p holds samples[p - pad_front]; the first frames start in the zeros.
    const int64_t start = int64_t{frame} * config.hop_length - pad_front;
    for (int n = 0; n < fft_length; ++n) {
      const int64_t at = start + n;
      const double sample = (n < frame_length && at >= 0) ? samples[at] : 0.0;
      spectrum[n] = {sample * (n < frame_length ? window[n] : 0.0), 0.0};
    }
    fft.transform(spectrum);
    for (size_t k = 0; k < magnitude.size(); ++k) magnitude[k] = std::abs(spectrum[k]);

    float* row = out.values.data() + static_cast<size_t>(frame) * config.mel_bins;
    for (int m = 0; m < config.mel_bins; ++m) {
      const MelFilter& filter = filters[m];
      double mel = 0.0;
      for (size_t i = 0; i < filter.weights.size(); ++i) mel += filter.weights[i] * magnitude[filter.first_bin + i];
      row[m] = static_cast<float>(std::log(mel + config.log_floor));
    }
  }
  return out;
}

}  // namespace facet
