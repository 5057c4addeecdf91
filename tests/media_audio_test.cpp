// Audio front end: decoding (WAV written byte by byte here; FLAC, OGG and MP3 written by
// libsndfile's own encoders), resampling, and Gemma 4's log-mel features checked against a
// plain double-precision reference written below (direct DFT, HTK mel formula written out).
#include <gtest/gtest.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <numbers>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "media/audio.h"
#include "media/audio_features.h"
#include "support/error_text.h"
#include "support/temp_dir.h"
#include "util/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define FACET_AUDIO_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FACET_AUDIO_TEST_ASAN 1
#endif
#endif
#ifdef FACET_AUDIO_TEST_ASAN
#include <sanitizer/lsan_interface.h>
#endif

namespace facet {
namespace {

// libsndfile 1.2.0 leaks libvorbis' codec set-up (5784 bytes, allocated in vorbis_info_init)
// each time it refuses a damaged OGG/Vorbis file. That leak is theirs, not facet's: while this
// guard lives, LeakSanitizer ignores allocations, so the damaged-Vorbis cases still run under
// ASan (checking that nothing crashes or reads out of bounds) without failing the leak check.
class IgnoreThirdPartyLeaks {
 public:
  explicit IgnoreThirdPartyLeaks(bool active) : active_(active) {
#ifdef FACET_AUDIO_TEST_ASAN
    if (active_) __lsan_disable();
#endif
  }
  ~IgnoreThirdPartyLeaks() {
#ifdef FACET_AUDIO_TEST_ASAN
    if (active_) __lsan_enable();
#endif
  }
  IgnoreThirdPartyLeaks(const IgnoreThirdPartyLeaks&) = delete;
  IgnoreThirdPartyLeaks& operator=(const IgnoreThirdPartyLeaks&) = delete;

 private:
  bool active_;
};

constexpr double kPi = std::numbers::pi;

std::vector<float> tone(double hz, double seconds, int rate, double amplitude = 0.5) {
  std::vector<float> out(static_cast<size_t>(std::lround(seconds * rate)));
  for (size_t i = 0; i < out.size(); ++i) out[i] = float(amplitude * std::sin(2 * kPi * hz * double(i) / rate));
  return out;
}

// Linear sweep from f0 to f1 Hz: phase = 2 pi (f0 t + (f1 - f0) t^2 / (2 T)).
std::vector<float> chirp(double f0, double f1, double seconds, int rate) {
  std::vector<float> out(static_cast<size_t>(std::lround(seconds * rate)));
  for (size_t i = 0; i < out.size(); ++i) {
    const double t = double(i) / rate;
    out[i] = float(0.8 * std::sin(2 * kPi * (f0 * t + (f1 - f0) * t * t / (2 * seconds))));
  }
  return out;
}

// ---- Reference log-mel, written from the description (not from the code under test) ----

double htk_mel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double htk_hz(double mel) { return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0); }

// Triangle m of 128 over 0..8000 Hz evaluated at `hz`: rises from edge m to edge m+1, falls to m+2.
double reference_filter(int m, double hz) {
  const double top = htk_mel(8000.0);
  const double left = htk_hz(top * m / 129.0), centre = htk_hz(top * (m + 1) / 129.0),
               right = htk_hz(top * (m + 2) / 129.0);
  if (hz >= left && hz <= centre) return (hz - left) / (centre - left);
  if (hz > centre && hz <= right) return (right - hz) / (right - centre);
  return 0.0;
}

std::vector<std::vector<double>> reference_log_mel(const std::vector<float>& audio) {
  std::vector<double> padded(160, 0.0);  // semi-causal: half a frame of zeros in front
  for (float s : audio) padded.push_back(s);
  std::vector<std::vector<double>> rows;
  for (size_t start = 0; start + 321 <= padded.size(); start += 160) {  // 321-sample windows
    std::vector<double> magnitude(257);
    for (int k = 0; k <= 256; ++k) {
      std::complex<double> sum = 0;
      for (int n = 0; n < 320; ++n) {
        const double hann = 0.5 * (1.0 - std::cos(2 * kPi * n / 320.0));
        sum += padded[start + n] * hann * std::polar(1.0, -2 * kPi * double((k * n) % 512) / 512.0);
      }
      magnitude[k] = std::abs(sum);
    }
    std::vector<double> row(128);
    for (int m = 0; m < 128; ++m) {
      double mel = 0;
      for (int k = 0; k <= 256; ++k) mel += magnitude[k] * reference_filter(m, k * 8000.0 / 256.0);
      row[m] = std::log(mel + 1e-3);
    }
    rows.push_back(row);
  }
  return rows;
}

double max_feature_error(const std::vector<float>& audio) {
  const AudioFeatures got = audio_features(AudioClip{16000, audio});
  const auto want = reference_log_mel(audio);
  EXPECT_EQ(got.frames, int(want.size()));
  EXPECT_EQ(got.mel_bins, 128);
  double worst = 0;
  for (size_t f = 0; f < want.size() && int(f) < got.frames; ++f) {
    for (int m = 0; m < 128; ++m) worst = std::max(worst, std::abs(double(got.values[f * 128 + m]) - want[f][m]));
  }
  return worst;
}

TEST(MediaAudioFeatures, ToneMatchesDoubleReference) {
  const double error = max_feature_error(tone(440.0, 0.75, 16000));
  EXPECT_LT(error, 1e-4);
  std::printf("tone: max |features - reference| = %.3g\n", error);
}

TEST(MediaAudioFeatures, ChirpMatchesDoubleReference) {
  const double error = max_feature_error(chirp(100.0, 7500.0, 0.75, 16000));
  EXPECT_LT(error, 1e-4);
  std::printf("chirp: max |features - reference| = %.3g\n", error);
}

// Fact: a pure tone's energy lands in the filter whose centre is nearest to it.
int nearest_filter(double hz) {
  int best = 0;
  for (int m = 1; m < 128; ++m) {
    const double centre = htk_hz(htk_mel(8000.0) * (m + 1) / 129.0);
    const double best_centre = htk_hz(htk_mel(8000.0) * (best + 1) / 129.0);
    if (std::abs(centre - hz) < std::abs(best_centre - hz)) best = m;
  }
  return best;
}

TEST(MediaAudioFeatures, TonePeaksInItsMelBin) {
  for (double hz : {440.0, 1000.0, 3000.0}) {
    const AudioFeatures features = audio_features(AudioClip{16000, tone(hz, 0.5, 16000)});
    ASSERT_GT(features.frames, 20);
    const float* row = features.values.data() + size_t(features.frames / 2) * 128;
    const int peak = int(std::max_element(row, row + 128) - row);
    EXPECT_EQ(peak, nearest_filter(hz)) << hz << " Hz";
  }
}

TEST(MediaAudioFeatures, FrameAndTokenCounts) {
  // F = (L - 161) // 160 + 1 and N = min(ceil(ceil(F / 2) / 2), 750).
  for (int64_t samples : {0, 100, 160, 161, 320, 321, 481, 12000, 16000, 16001, 480000}) {
    const int64_t want_frames = samples < 161 ? 0 : (samples - 161) / 160 + 1;
    EXPECT_EQ(audio_feature_frames(samples), want_frames) << samples;
  }
  EXPECT_EQ(audio_feature_frames(16000), 99);  // 1 s, as the research notes give
  EXPECT_EQ(audio_soft_tokens(99), 25);
  EXPECT_EQ(audio_soft_tokens(2999), 750);     // 30 s
  EXPECT_EQ(audio_soft_tokens(74), 19);        // 37 after the first convolution
  EXPECT_EQ(audio_soft_tokens(1), 1);
  EXPECT_EQ(audio_soft_tokens(0), 0);
  EXPECT_EQ(audio_soft_tokens(100000), 750);

  std::vector<float> short_clip(161, 0.25f);
  EXPECT_EQ(audio_features(AudioClip{16000, short_clip}).frames, 1);
  short_clip.pop_back();
  const AudioFeatures none = audio_features(AudioClip{16000, short_clip});
  EXPECT_EQ(none.frames, 0);
  EXPECT_TRUE(none.values.empty());
}

TEST(MediaAudioFeatures, LongClipsAreTruncatedToThirtySeconds) {
  AudioFeatureConfig config;
  config.max_seconds = 0.5;  // the same rule at a size a test can afford
  const std::vector<float> audio = chirp(200.0, 4000.0, 1.0, 16000);
  const AudioFeatures got = audio_features(AudioClip{16000, audio}, config);
  const AudioFeatures want = audio_features(AudioClip{16000, std::vector<float>(audio.begin(), audio.begin() + 8000)});
  EXPECT_EQ(got.frames, 49);  // (8000 - 161) // 160 + 1
  EXPECT_EQ(got.values, want.values);
  EXPECT_EQ(AudioFeatureConfig{}.max_seconds * 16000, 480000);
}

TEST(MediaAudioFeatures, WrongRateIsAnError) {
  EXPECT_NE(test::error_of([] { audio_features(AudioClip{44100, tone(440, 0.1, 44100)}); }).find("16000 Hz"),
            std::string::npos);
}

// ---- Decoding ----

void put_u16(std::vector<uint8_t>& out, uint32_t v) { out.push_back(v & 0xff); out.push_back((v >> 8) & 0xff); }
void put_u32(std::vector<uint8_t>& out, uint32_t v) { put_u16(out, v & 0xffff); put_u16(out, v >> 16); }
void put_tag(std::vector<uint8_t>& out, const char* tag) { out.insert(out.end(), tag, tag + 4); }

// A canonical RIFF/WAVE file: "fmt " chunk (format 1 = PCM, 3 = IEEE float) and a "data" chunk
// whose declared size may differ from the bytes that follow (to fake long or truncated files).
std::vector<uint8_t> wav_file(int format, int channels, int rate, int bits, const std::vector<uint8_t>& data,
                              int64_t declared_data_bytes = -1) {
  const uint32_t data_size = declared_data_bytes < 0 ? uint32_t(data.size()) : uint32_t(declared_data_bytes);
  std::vector<uint8_t> out;
  put_tag(out, "RIFF");
  put_u32(out, 36 + data_size);
  put_tag(out, "WAVE");
  put_tag(out, "fmt ");
  put_u32(out, 16);
  put_u16(out, format);
  put_u16(out, channels);
  put_u32(out, rate);
  put_u32(out, rate * channels * bits / 8);
  put_u16(out, channels * bits / 8);
  put_u16(out, bits);
  put_tag(out, "data");
  put_u32(out, data_size);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<uint8_t> pcm16_bytes(const std::vector<int16_t>& values) {
  std::vector<uint8_t> out;
  for (int16_t v : values) put_u16(out, uint16_t(v));
  return out;
}

std::vector<int16_t> pcm16_signal(size_t n, double hz, int rate) {
  std::vector<int16_t> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = int16_t(std::lround(20000 * std::sin(2 * kPi * hz * double(i) / rate)));
  out[0] = -32768;  // the extremes scale to exactly -1 and 32767/32768
  out[1] = 32767;
  return out;
}

TEST(MediaAudioDecode, Pcm16MonoIsExact) {
  const std::vector<int16_t> values = pcm16_signal(4000, 440, 16000);
  const AudioClip clip = decode_audio(wav_file(1, 1, 16000, 16, pcm16_bytes(values)), "mono.wav");
  EXPECT_EQ(clip.sample_rate, 16000);
  ASSERT_EQ(clip.samples.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(clip.samples[i], float(values[i]) / 32768.0f) << i;
}

TEST(MediaAudioDecode, StereoIsAveraged) {
  const std::vector<int16_t> left = pcm16_signal(3000, 440, 22050), right = pcm16_signal(3000, 1234, 22050);
  std::vector<int16_t> interleaved;
  for (size_t i = 0; i < left.size(); ++i) { interleaved.push_back(left[i]); interleaved.push_back(right[i]); }
  const AudioClip clip = decode_audio(wav_file(1, 2, 22050, 16, pcm16_bytes(interleaved)), "stereo.wav");
  EXPECT_EQ(clip.sample_rate, 22050);
  ASSERT_EQ(clip.samples.size(), left.size());
  for (size_t i = 0; i < left.size(); ++i) {
    ASSERT_NEAR(clip.samples[i], (left[i] + right[i]) / 65536.0, 1e-7) << i;
  }
}

TEST(MediaAudioDecode, Pcm24And8AndFloat) {
  std::vector<uint8_t> bytes24, bytes8, bytes_float;
  const std::vector<float> wave = tone(300, 0.1, 8000, 0.9);
  for (float s : wave) {
    const int32_t v24 = int32_t(std::lround(s * 8388607.0));
    bytes24.push_back(v24 & 0xff); bytes24.push_back((v24 >> 8) & 0xff); bytes24.push_back((v24 >> 16) & 0xff);
    bytes8.push_back(uint8_t(128 + std::lround(s * 127.0)));  // 8-bit WAV is unsigned, 128 = silence
    uint32_t raw;
    std::memcpy(&raw, &s, 4);
    put_u32(bytes_float, raw);
  }
  const AudioClip c24 = decode_audio(wav_file(1, 1, 8000, 24, bytes24), "24.wav");
  const AudioClip c8 = decode_audio(wav_file(1, 1, 8000, 8, bytes8), "8.wav");
  const AudioClip cf = decode_audio(wav_file(3, 1, 8000, 32, bytes_float), "float.wav");
  ASSERT_EQ(c24.samples.size(), wave.size());
  ASSERT_EQ(c8.samples.size(), wave.size());
  ASSERT_EQ(cf.samples.size(), wave.size());
  for (size_t i = 0; i < wave.size(); ++i) {
    ASSERT_NEAR(c24.samples[i], std::lround(wave[i] * 8388607.0) / 8388608.0, 1e-7) << i;
    ASSERT_NEAR(c8.samples[i], std::lround(wave[i] * 127.0) / 128.0, 1e-6) << i;
    ASSERT_EQ(cf.samples[i], wave[i]) << i;
  }
}

// Writes `samples` with libsndfile's own encoder into a temporary file and returns its bytes.
// Samples are given as float, or as int16 for an exact 16-bit file (libsndfile scales floats by
// 32767 when it writes integers, so -1.0f would not round-trip).
template <typename Sample>
std::vector<uint8_t> encode_with_libsndfile(int format, int rate, const std::vector<Sample>& samples) {
  test::TempDir dir;
  const std::string path = dir.file("clip");
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = 1;
  info.format = format;
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  if (file == nullptr) {
    ADD_FAILURE() << "libsndfile cannot write format " << std::hex << format << ": " << sf_strerror(nullptr);
    return {};
  }
  sf_count_t written = 0;
  if constexpr (std::is_same_v<Sample, int16_t>) {
    written = sf_writef_short(file, samples.data(), sf_count_t(samples.size()));
  } else {
    written = sf_writef_float(file, samples.data(), sf_count_t(samples.size()));
  }
  EXPECT_EQ(written, sf_count_t(samples.size()));
  sf_close(file);
  return test::read_bytes(path);
}

// Best normalised correlation of `got` against `want` over small shifts (lossy codecs may
// delay the signal by their encoder padding).
double best_correlation(const std::vector<float>& want, const std::vector<float>& got, int max_shift) {
  double best = -1;
  for (int shift = 0; shift <= max_shift; ++shift) {
    double dot = 0, a = 0, b = 0;
    for (size_t i = 0; i + shift < got.size() && i < want.size(); ++i) {
      dot += double(want[i]) * got[i + shift];
      a += double(want[i]) * want[i];
      b += double(got[i + shift]) * got[i + shift];
    }
    if (a > 0 && b > 0) best = std::max(best, dot / std::sqrt(a * b));
  }
  return best;
}

TEST(MediaAudioDecode, FlacIsLossless) {
  const std::vector<int16_t> values = pcm16_signal(8000, 523.25, 16000);
  const std::vector<uint8_t> bytes = encode_with_libsndfile(SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, values);
  ASSERT_FALSE(bytes.empty());
  ASSERT_EQ(std::string(bytes.begin(), bytes.begin() + 4), "fLaC");
  const AudioClip clip = decode_audio(bytes, "clip.flac");
  EXPECT_EQ(clip.sample_rate, 16000);
  ASSERT_EQ(clip.samples.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) ASSERT_EQ(clip.samples[i], values[i] / 32768.0f) << i;
}

TEST(MediaAudioDecode, LossyFormatsKeepTheSignal) {
  struct Case { const char* name; int format; int rate; int max_shift; };
  const Case cases[] = {
      {"ogg vorbis", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 44100, 0},
      {"ogg opus", SF_FORMAT_OGG | SF_FORMAT_OPUS, 48000, 0},
      {"mp3", SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 44100, 3000},
  };
  for (const Case& c : cases) {
    const std::vector<float> samples = chirp(200, 3000, 1.0, c.rate);
    const std::vector<uint8_t> bytes = encode_with_libsndfile(c.format, c.rate, samples);
    if (bytes.empty()) continue;  // reported by encode_with_libsndfile
    const AudioClip clip = decode_audio(bytes, c.name);
    EXPECT_EQ(clip.sample_rate, c.rate) << c.name;
    EXPECT_NEAR(double(clip.samples.size()), double(samples.size()), 0.1 * c.rate) << c.name;
    EXPECT_GT(best_correlation(samples, clip.samples, c.max_shift), 0.98) << c.name;
  }
}

TEST(MediaAudioDecode, ReadsFromAFile) {
  test::TempDir dir;
  const std::vector<int16_t> values = pcm16_signal(1000, 440, 16000);
  test::write_bytes(dir.file("a.wav"), wav_file(1, 1, 16000, 16, pcm16_bytes(values)));
  const AudioClip clip = read_audio_file(dir.file("a.wav"));
  ASSERT_EQ(clip.samples.size(), values.size());
  EXPECT_EQ(clip.samples[5], values[5] / 32768.0f);
  EXPECT_NE(test::error_of([&] { read_audio_file(dir.file("missing.wav")); }).find("missing.wav"), std::string::npos);
  AudioLimits small;
  small.max_bytes = 100;
  EXPECT_NE(test::error_of([&] { read_audio_file(dir.file("a.wav"), small); }).find("limited to 100 bytes"),
            std::string::npos);
}

// ---- Resampling ----

// Frequency estimated from the sign changes between the first and the last rising edge.
double zero_crossing_hz(const std::vector<float>& s, int rate) {
  int64_t first = -1, last = -1, rising = 0;
  for (size_t i = 1; i < s.size(); ++i) {
    if (s[i - 1] < 0 && s[i] >= 0) {
      if (first < 0) first = int64_t(i);
      last = int64_t(i);
      ++rising;
    }
  }
  return rising > 1 ? double(rising - 1) * rate / double(last - first) : 0.0;
}

TEST(MediaAudioResample, KeepsFrequencyAndDuration) {
  const AudioClip in{44100, tone(1000.0, 1.0, 44100)};
  const AudioClip out = resample(in, 16000);
  EXPECT_EQ(out.sample_rate, 16000);
  EXPECT_NEAR(double(out.samples.size()), 16000.0, 2.0);
  EXPECT_NEAR(zero_crossing_hz(out.samples, 16000), 1000.0, 1.0);
  // Away from the edges the samples follow the same sine at the new rate.
  double worst = 0;
  for (size_t i = 500; i + 500 < out.samples.size(); ++i) {
    worst = std::max(worst, std::abs(out.samples[i] - 0.5 * std::sin(2 * kPi * 1000.0 * double(i) / 16000)));
  }
  EXPECT_LT(worst, 1e-3);

  const AudioClip same = resample(AudioClip{16000, {0.1f, 0.2f}}, 16000);
  EXPECT_EQ(same.samples, (std::vector<float>{0.1f, 0.2f}));
  EXPECT_TRUE(resample(AudioClip{8000, {}}, 16000).samples.empty());
  EXPECT_THROW(resample(in, 0), Error);
  EXPECT_THROW(resample(AudioClip{0, {0.f}}, 16000), Error);
  EXPECT_THROW(resample(in, 44100 * 300), Error);  // beyond libsamplerate's 256x
}

// ---- Bad input: always a facet::Error, never a crash ----

void expect_error(const std::vector<uint8_t>& bytes, const std::string& fragment, const AudioLimits& limits = {}) {
  const std::string message = test::error_of([&] { decode_audio(bytes, "upload.bin", limits); });
  EXPECT_NE(message.find("upload.bin"), std::string::npos) << message;
  EXPECT_NE(message.find(fragment), std::string::npos) << message;
}

TEST(MediaAudioErrors, NotAudio) {
  expect_error({}, "is empty");
  std::mt19937 random(7);
  for (int i = 0; i < 20; ++i) {
    std::vector<uint8_t> noise(64 + 97 * i);
    for (auto& b : noise) b = uint8_t(random());
    noise[0] = 'x';  // never a frame-sync byte, so the expected answer is deterministic
    expect_error(noise, "is not a WAV, FLAC, OGG or MP3 file");
  }
  std::vector<uint8_t> png(200, 0);
  const uint8_t png_start[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
  std::copy(std::begin(png_start), std::end(png_start), png.begin());
  expect_error(png, "is not a WAV, FLAC, OGG or MP3 file");
  const std::vector<uint8_t> wav = wav_file(1, 1, 16000, 16, pcm16_bytes(pcm16_signal(100, 440, 16000)));
  expect_error(std::vector<uint8_t>(wav.begin(), wav.begin() + 20), "is not a WAV");
  expect_error(wav_file(1, 1, 16000, 16, {}), "no audio");
  expect_error(wav_file(1, 0, 16000, 16, pcm16_bytes({1, 2})), "upload.bin");
  AudioLimits tiny;
  tiny.max_bytes = 10;
  expect_error(wav, "limited to 10 bytes", tiny);
}

TEST(MediaAudioErrors, OverlongAudioIsRefusedFromTheHeader) {
  // 16-bit mono at 1 Hz: 1 MB of data is 500000 s (139 hours), declared by the header.
  const std::vector<uint8_t> data(1 << 20, 0);
  expect_error(wav_file(1, 1, 1, 16, data), "declares 524288 s of audio");
  AudioLimits ten_seconds;
  ten_seconds.max_seconds = 10;
  expect_error(wav_file(1, 1, 16000, 16, std::vector<uint8_t>(16000 * 2 * 11, 0)), "limited to 10 s", ten_seconds);
}

TEST(MediaAudioErrors, ChunkLongerThanTheFileIsRefused) {
  // The audio_decode fuzzer's hang: a 286-byte WAV whose LIST chunk claims 0x69726f76 bytes
  // kept libsndfile's header walk busy for over 20 minutes.
  std::vector<uint8_t> file = {'R', 'I', 'F', 'F', 0xf4, 0x07, 0, 0, 'W', 'A', 'V', 'E',
                               'L', 'I', 'S', 'T', 0x76, 0x6f, 0x72, 0x69};
  file.resize(286, 0xff);
  expect_error(file, "'LIST' chunk declares 1769107318 bytes but only 266 follow");
  // The sample data may run past the end (a stream cut short): what is there is decoded.
  std::vector<uint8_t> cut = wav_file(1, 1, 16000, 16, pcm16_bytes({1000, -2000, 3000, 4000}));
  cut.resize(cut.size() - 2);
  EXPECT_EQ(decode_audio(cut, "cut.wav").samples.size(), 3u);
}

TEST(MediaAudioErrors, DamagedFilesNeverCrash) {
  // Every prefix length and scattered byte flips of real files: a clip or a facet::Error.
  const std::vector<float> samples = chirp(300, 2000, 0.3, 16000);
  const std::vector<std::vector<uint8_t>> files = {
      encode_with_libsndfile(SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 16000, samples),
      encode_with_libsndfile(SF_FORMAT_OGG | SF_FORMAT_VORBIS, 16000, samples),
      encode_with_libsndfile(SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 16000, samples),
      wav_file(1, 2, 16000, 16, pcm16_bytes(pcm16_signal(2000, 440, 16000)))};
  const size_t vorbis = 1;
  std::mt19937 random(11);
  int decoded = 0, refused = 0;
  for (size_t f = 0; f < files.size(); ++f) {
    const std::vector<uint8_t>& file = files[f];
    IgnoreThirdPartyLeaks ignore_leaks(f == vorbis);
    for (size_t cut = 0; cut < file.size(); cut += 1 + file.size() / 40) {
      try {
        decode_audio(std::span(file.data(), cut), "cut");
        ++decoded;
      } catch (const Error&) {
        ++refused;
      }
    }
    for (int trial = 0; trial < 30 && !file.empty(); ++trial) {
      std::vector<uint8_t> damaged = file;
      for (int flips = 0; flips < 8; ++flips) damaged[random() % damaged.size()] ^= uint8_t(1 + random() % 255);
      try {
        const AudioClip clip = decode_audio(damaged, "damaged");
        for (float s : clip.samples) ASSERT_TRUE(s >= -1.0f && s <= 1.0f);
        ++decoded;
      } catch (const Error&) {
        ++refused;
      }
    }
  }
  EXPECT_GT(decoded, 0);
  EXPECT_GT(refused, 0);
}

}  // namespace
}  // namespace facet
