// Audio decoding through libsndfile's virtual I/O (the bytes never touch the disk) and
// resampling through libsamplerate. Every limit is checked before the memory it guards is
// spent: the byte count before opening, the header's duration before reading, and the decoded
// duration while reading (for streams whose header does not tell their length).
#include "media/audio.h"

#include <samplerate.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>

#include "util/error.h"

namespace facet {
namespace {

constexpr const char* kKnownFormats = "a WAV, FLAC, OGG or MP3 file";
// libsndfile caps channels at 1024; 384 kHz is the highest rate in common use (DXD).
constexpr int kMaxChannels = 1024;
constexpr int kMaxSampleRate = 384'000;
constexpr sf_count_t kReadChunkFrames = 4096;

// The in-memory "file" libsndfile reads through SF_VIRTUAL_IO.
struct MemoryReader {
  const uint8_t* data = nullptr;
  sf_count_t size = 0;
  sf_count_t position = 0;
};

sf_count_t memory_length(void* user) { return static_cast<MemoryReader*>(user)->size; }

sf_count_t memory_seek(sf_count_t offset, int whence, void* user) {
  auto* reader = static_cast<MemoryReader*>(user);
  sf_count_t base = 0;
  switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = reader->position; break;
    case SEEK_END: base = reader->size; break;
    default: return -1;
  }
  // Seeking past the end is allowed (reads there return nothing); before the start, or to a
  // position that overflows, is refused without moving.
  if (offset > 0 && base > std::numeric_limits<sf_count_t>::max() - offset) return -1;
  const sf_count_t target = base + offset;
  if (target < 0) return -1;
  reader->position = target;
  return target;
}

sf_count_t memory_read(void* destination, sf_count_t count, void* user) {
  auto* reader = static_cast<MemoryReader*>(user);
  if (count <= 0 || reader->position >= reader->size) return 0;
  const sf_count_t n = std::min(count, reader->size - reader->position);
  std::memcpy(destination, reader->data + reader->position, static_cast<size_t>(n));
  reader->position += n;
  return n;
}

sf_count_t memory_write(const void*, sf_count_t, void*) { return 0; }  // read-only

sf_count_t memory_tell(void* user) { return static_cast<MemoryReader*>(user)->position; }

struct SndfileCloser {
  void operator()(SNDFILE* file) const { sf_close(file); }
};
using SndfileHandle = std::unique_ptr<SNDFILE, SndfileCloser>;

// A decoded float can be out of range (float WAVs are not clipped by libsndfile) or not finite
// (a float WAV may hold anything); the clip promises finite samples in [-1, 1].
float sanitize_sample(float value) {
  if (!std::isfinite(value)) return 0.0f;
  return std::clamp(value, -1.0f, 1.0f);
}

int64_t max_frames_for(double max_seconds, int sample_rate) {
  const double frames = std::floor(max_seconds * sample_rate);
  if (!(frames < 9.0e18)) return std::numeric_limits<int64_t>::max();
  return frames < 0 ? 0 : static_cast<int64_t>(frames);
}

// The chunks of a RIFF/RF64/RIFX (WAV) or FORM (AIFF) file, checked before libsndfile sees
// them: libsndfile walks a header's chunks by their declared sizes, also past the end of the
// bytes, and a 286-byte WAV whose LIST chunk claimed 1.7 GB kept sf_open busy for over 20
// minutes (found by the audio_decode fuzzer). A chunk that runs past the end of the file is
// refused, except the sample data (`data`, `SSND`): recorders that stream leave its size too
// large or unset, and libsndfile returns what is there.
void check_header_chunks(std::span<const uint8_t> bytes, const std::string& what) {
  auto tag = [&](size_t at) { return std::string(reinterpret_cast<const char*>(bytes.data() + at), 4); };
  if (bytes.size() < 12) return;
  const std::string form = tag(0);
  const bool little = form == "RIFF" || form == "RF64";
  if (!little && form != "RIFX" && form != "FORM") return;
  auto size_at = [&](size_t at) {
    const uint8_t* b = bytes.data() + at;
    return little ? uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24
                  : uint32_t{b[3]} | uint32_t{b[2]} << 8 | uint32_t{b[1]} << 16 | uint32_t{b[0]} << 24;
  };
  for (size_t at = 12; at + 8 <= bytes.size();) {
    const std::string id = tag(at);
    if (id == "data" || id == "SSND") return;
    const uint64_t size = size_at(at + 4), left = bytes.size() - at - 8;
    if (size > left) {
      std::string printable = id;
      for (char& c : printable)
        if (c < 0x20 || c > 0x7e) c = '?';
      fail(what, " is not ", kKnownFormats, ", or it is damaged (its '", printable, "' chunk declares ", size,
           " bytes but only ", left, " follow)");
    }
    at += 8 + size + (size & 1);  // chunks are padded to an even length
  }
}

}  // namespace

AudioClip decode_audio(std::span<const uint8_t> bytes, const std::string& what,
                       const AudioLimits& limits) {
  require(!bytes.empty(), what, " is empty (0 bytes); expected ", kKnownFormats);
  require(static_cast<int64_t>(bytes.size()) <= limits.max_bytes, what, " is ", bytes.size(),
          " bytes; audio inputs are limited to ", limits.max_bytes, " bytes");

  check_header_chunks(bytes, what);

  MemoryReader reader{bytes.data(), static_cast<sf_count_t>(bytes.size()), 0};
  SF_VIRTUAL_IO io{memory_length, memory_seek, memory_read, memory_write, memory_tell};
  SF_INFO info{};  // format 0: let libsndfile recognise the container from its header
  SndfileHandle file(sf_open_virtual(&io, SFM_READ, &info, &reader));
  if (!file) {
    fail(what, " is not ", kKnownFormats, ", or it is damaged (libsndfile: ",
         sf_strerror(nullptr), ")");
  }

  require(info.channels >= 1 && info.channels <= kMaxChannels, what, " declares ",
          info.channels, " channels; expected 1 to ", kMaxChannels);
  require(info.samplerate >= 1 && info.samplerate <= kMaxSampleRate, what, " declares a sample rate of ",
          info.samplerate, " Hz; expected 1 to ", kMaxSampleRate, " Hz");
  require(info.frames >= 0, what, " declares a negative length (", info.frames, " frames)");

  const int64_t max_frames = max_frames_for(limits.max_seconds, info.samplerate);
  // SF_COUNT_MAX means "length unknown": then only the decoded length can be checked.
  const bool length_known = info.frames != SF_COUNT_MAX;
  if (length_known && info.frames > max_frames) {
    fail(what, " declares ", double(info.frames) / info.samplerate, " s of audio in its header; audio inputs are limited to ",
         limits.max_seconds, " s");
  }

  AudioClip clip;
  clip.sample_rate = info.samplerate;
  if (length_known) clip.samples.reserve(static_cast<size_t>(std::min<int64_t>(info.frames, int64_t{1} << 24)));

  const int channels = info.channels;
  std::vector<float> interleaved(static_cast<size_t>(kReadChunkFrames) * channels);
  for (;;) {
    const sf_count_t got = sf_readf_float(file.get(), interleaved.data(), kReadChunkFrames);
    if (got <= 0) break;
    if (static_cast<int64_t>(clip.samples.size()) + got > max_frames) {
      fail(what, " decodes to more than ", limits.max_seconds, " s of audio; audio inputs are limited to ",
           limits.max_seconds, " s");
    }
    for (sf_count_t frame = 0; frame < got; ++frame) {
      const float* first = interleaved.data() + frame * channels;
      float sum = 0.0f;
      for (int c = 0; c < channels; ++c) sum += sanitize_sample(first[c]);
      clip.samples.push_back(sanitize_sample(sum / static_cast<float>(channels)));
    }
  }
  // A decoder error part-way (a damaged FLAC or Vorbis packet) is reported rather than handing
  // back a silently shortened clip. A PCM file whose data chunk is shorter than its header says
  // is not an error for libsndfile: what is there is returned.
  const int error = sf_error(file.get());
  if (error != SF_ERR_NO_ERROR) {
    fail(what, " is damaged: decoding stopped after ", clip.samples.size(), " frames (libsndfile: ",
         sf_error_number(error), ")");
  }
  require(!clip.samples.empty(), what, " contains no audio samples");
  return clip;
}

AudioClip read_audio_file(const std::string& path, const AudioLimits& limits) {
  std::error_code code;
  const auto size = std::filesystem::file_size(path, code);
  require(!code, "cannot read audio file ", path, ": ", code.message());
  require(size <= static_cast<uintmax_t>(std::max<int64_t>(limits.max_bytes, 0)), "audio file ", path,
          " is ", size, " bytes; audio inputs are limited to ", limits.max_bytes, " bytes");

  std::ifstream in(path, std::ios::binary);
  require(static_cast<bool>(in), "cannot open audio file ", path);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (!bytes.empty()) in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  require(static_cast<size_t>(in.gcount()) == bytes.size() || bytes.empty(), "cannot read audio file ",
          path, ": it changed size while being read");
  return decode_audio(bytes, path, limits);
}

AudioClip resample(const AudioClip& clip, int rate) {
  require(rate > 0, "cannot resample audio to ", rate, " Hz; the target rate must be positive");
  require(clip.sample_rate > 0, "cannot resample audio whose sample rate is ", clip.sample_rate, " Hz");
  if (clip.sample_rate == rate) return clip;

  const double ratio = static_cast<double>(rate) / clip.sample_rate;
  require(src_is_valid_ratio(ratio) != 0, "cannot resample audio from ", clip.sample_rate, " Hz to ",
          rate, " Hz: the ratio is outside libsamplerate's 1/256 .. 256");

  AudioClip out;
  out.sample_rate = rate;
  if (clip.samples.empty()) return out;
  require(clip.samples.size() <= static_cast<size_t>(std::numeric_limits<long>::max() / 256),
          "cannot resample audio of ", clip.samples.size(), " samples: too long");

  // Room for the converter's rounding plus its flush of the filter tail at end of input.
  out.samples.resize(static_cast<size_t>(std::ceil(clip.samples.size() * ratio)) + 64);
  SRC_DATA data{};
  data.data_in = clip.samples.data();
  data.input_frames = static_cast<long>(clip.samples.size());
  data.data_out = out.samples.data();
  data.output_frames = static_cast<long>(out.samples.size());
  data.src_ratio = ratio;
  data.end_of_input = 1;
  const int error = src_simple(&data, SRC_SINC_BEST_QUALITY, 1);
  require(error == 0, "resampling audio from ", clip.sample_rate, " Hz to ", rate, " Hz failed: ",
          src_strerror(error));
  out.samples.resize(static_cast<size_t>(data.output_frames_gen));
  // A sinc filter overshoots near full-scale steps; keep the clip's [-1, 1] promise.
  for (float& sample : out.samples) sample = sanitize_sample(sample);
  return out;
}

}  // namespace facet
