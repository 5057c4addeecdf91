// Audio in prompts, first step: compressed or PCM bytes -> mono float samples at a known rate.
// Decoding goes through libsndfile (WAV, FLAC, OGG/Vorbis, OGG/Opus, MP3 and the other formats
// it recognises) and resampling through libsamplerate; both are reached from memory, so the
// server can decode an upload without writing it to disk.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace facet {

// Mono samples in [-1, 1] at `sample_rate` Hz.
struct AudioClip {
  int sample_rate = 0;
  std::vector<float> samples;

  double seconds() const { return sample_rate > 0 ? double(samples.size()) / sample_rate : 0.0; }
};

// What a caller is willing to decode: checked before the samples are read (the byte count
// first, then the duration the header announces, then the duration actually decoded).
struct AudioLimits {
  double max_seconds = 600;
  int64_t max_bytes = int64_t{64} << 20;
};

// Decodes a whole audio file held in memory; channels are averaged to mono. `what` names the
// input in error messages (a path, "request audio #2", ...). Throws facet::Error for data that
// is not audio libsndfile understands, empty audio, or audio over `limits`.
AudioClip decode_audio(std::span<const uint8_t> bytes, const std::string& what,
                       const AudioLimits& limits = {});

// Reads `path` (refusing files over limits.max_bytes before reading them) and decodes it.
AudioClip read_audio_file(const std::string& path, const AudioLimits& limits = {});

// Returns `clip` resampled to `rate` Hz with libsamplerate's best sinc converter; a copy when
// the clip is already at `rate`. Throws facet::Error for rates libsamplerate cannot bridge
// (ratio outside 1/256 .. 256) or non-positive rates.
AudioClip resample(const AudioClip& clip, int rate);

}  // namespace facet
