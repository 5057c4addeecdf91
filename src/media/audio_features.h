// Gemma 4's audio features: the log-mel spectrogram its audio encoder (E2B, E4B) reads, computed
// as transformers' Gemma4AudioFeatureExtractor computes it (spec §9.2; research notes §4.1).
#pragma once

#include <vector>

#include "media/audio.h"

namespace facet {

struct AudioFeatureConfig {
  int sample_rate = 16000;
  int frame_length = 320;  // 20 ms
  int hop_length = 160;    // 10 ms
  int fft_length = 512;    // 2^ceil(log2(frame_length))
  int mel_bins = 128;
  double min_hz = 0, max_hz = 8000;
  double log_floor = 1e-3;  // additive: ln(mel + floor)
  double max_seconds = 30;  // longer clips are truncated, as transformers does (max_length 480000)
};

// Row-major [frames, mel_bins]: values[frame * mel_bins + bin].
struct AudioFeatures {
  int frames = 0;
  int mel_bins = 0;
  std::vector<float> values;
};

// The valid frames of a clip already at config.sample_rate (transformers' padded, masked-out
// frames are not produced). A clip too short for one frame gives frames = 0.
AudioFeatures audio_features(const AudioClip& clip16k, const AudioFeatureConfig& config = {});

// Frames a clip of `samples` samples yields: (samples + frame_length/2 - (frame_length + 1))
// / hop_length + 1, or 0 when that is not positive. Truncation to max_seconds is not applied.
int audio_feature_frames(int64_t samples, const AudioFeatureConfig& config = {});

// Soft tokens the audio encoder makes from `frames` feature frames: its two stride-2
// convolutions halve the time axis twice (rounding up), capped at 750 tokens (30 s).
int audio_soft_tokens(int frames);

}  // namespace facet
