// libFuzzer target for the audio path of a prompt: decode_audio (libsndfile: WAV, FLAC, OGG
// Vorbis/Opus, MP3, AIFF, ...), resampling to 16 kHz (libsamplerate) and the log-mel features
// the audio tower reads. Any byte string must either give a clip within the limits whose
// samples and features are finite, or raise facet::Error. Anything else (a crash, a
// sanitizer report, another exception type, a broken invariant) is a finding.
//
// libsndfile 1.2.0 itself leaks a few KB when it refuses some damaged Ogg Vorbis files;
// fuzz/lsan.supp (used by scripts/fuzz.sh) keeps LeakSanitizer quiet about leaks inside
// libsndfile and its codec libraries only, so leaks of facet's own code still count.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "media/audio.h"
#include "media/audio_features.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Short clips keep every input fast; the limit checks are the same code as the defaults'.
  const facet::AudioLimits limits{.max_seconds = 2, .max_bytes = 1 << 20};
  try {
    const facet::AudioClip clip = facet::decode_audio(std::span<const uint8_t>(data, size), "fuzz-input", limits);
    if (clip.sample_rate <= 0 || clip.samples.empty() || clip.seconds() > limits.max_seconds + 1e-6) std::abort();
    for (float s : clip.samples)
      if (!std::isfinite(s) || std::fabs(s) > 1.0f + 1e-6f) std::abort();
    const facet::AudioClip at_16k = facet::resample(clip, 16000);
    for (float s : at_16k.samples)
      if (!std::isfinite(s)) std::abort();
    const facet::AudioFeatures features = facet::audio_features(at_16k);
    for (float f : features.values)
      if (!std::isfinite(f)) std::abort();
  } catch (const facet::Error&) {
    // Rejected cleanly: the expected outcome for most inputs.
  }
  return 0;
}
