// PNG / JPEG / WebP bytes -> RgbImage. See image.h for the conventions (white compositing,
// high byte of 16-bit samples, no gamma correction).
//
// libpng and libjpeg report errors by longjmp. A longjmp that crosses a C++ object with a
// destructor is undefined behaviour, so every call into those libraries happens inside a small
// C-style function (the `*_stage` functions below) that calls setjmp itself and holds only plain
// data; the C++ code around them owns the buffers and the library state, and turns a failed
// stage into a facet::Error.
#include "media/image.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>

#include <jpeglib.h>
#include <jerror.h>  // after jpeglib.h, which it needs
#include <png.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "media/image_orientation.h"
#include "util/error.h"
#include "util/mapped_file.h"

namespace facet {

using namespace std::string_view_literals;  // magic numbers hold NUL bytes

namespace {

constexpr char kExpected[] = "a PNG, JPEG or WebP image";

// Refuses a size announced by a header before anything that large is allocated.
void check_limits(int64_t width, int64_t height, const char* format, const std::string& what,
                  const ImageLimits& limits) {
  require(width > 0 && height > 0, what, ": the ", format, " header gives an empty image (", width,
          "x", height, " pixels)");
  require(width <= limits.max_side && height <= limits.max_side, what, " is a ", width, "x", height,
          " ", format, " image, over the limit of ", limits.max_side, " pixels on a side");
  require(width * height <= limits.max_pixels, what, " is a ", width, "x", height, " ", format,
          " image (", width * height, " pixels), over the limit of ", limits.max_pixels, " pixels");
}

// Allocates a pixel buffer, reporting a failed allocation as a facet::Error.
std::vector<uint8_t> allocate_pixels(int64_t width, int64_t height, int channels,
                                     const std::string& what) {
  try {
    return std::vector<uint8_t>(static_cast<size_t>(width) * static_cast<size_t>(height) *
                                static_cast<size_t>(channels));
  } catch (const std::bad_alloc&) {
    fail(what, ": not enough memory to decode a ", width, "x", height, " image");
  }
}

// Alpha compositing onto opaque white: out = (a*c + (255-a)*255) / 255, rounded to nearest.
// Pillow's Image.alpha_composite over a white background gives exactly these values.
void composite_onto_white(const uint8_t* rgba, size_t pixel_count, uint8_t* rgb) {
  for (size_t i = 0; i < pixel_count; ++i, rgba += 4, rgb += 3) {
    const unsigned alpha = rgba[3], white = 255u * (255u - alpha);
    for (int c = 0; c < 3; ++c) rgb[c] = static_cast<uint8_t>((rgba[c] * alpha + white + 127u) / 255u);
  }
}

RgbImage composite_rgba(int width, int height, const std::vector<uint8_t>& rgba,
                        const std::string& what) {
  RgbImage image{width, height, allocate_pixels(width, height, 3, what)};
  composite_onto_white(rgba.data(), size_t(width) * size_t(height), image.pixels.data());
  return image;
}

// ---------------------------------------------------------------- PNG (libpng)

struct PngState {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const uint8_t* data = nullptr;
  size_t size = 0, offset = 0;
  png_uint_32 width = 0, height = 0;
  bool has_alpha = false;  // after the transforms below: RGBA rather than RGB
  char message[256] = {};
};

void png_on_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", message);
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}  // benign problems (bad ancillary chunks)

void png_read_from_memory(png_structp png, png_bytep out, size_t count) {
  auto* state = static_cast<PngState*>(png_get_io_ptr(png));
  if (count > state->size - state->offset) png_error(png, "the data ends early (truncated file)");
  std::memcpy(out, state->data + state->offset, count);
  state->offset += count;
}

// Stage 1: the header. Fills width, height and whether the output will carry alpha.
bool png_header_stage(PngState* state) {
  state->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, state, png_on_error, png_on_warning);
  if (state->png) state->info = png_create_info_struct(state->png);
  if (!state->png || !state->info) {
    std::snprintf(state->message, sizeof state->message, "out of memory");
    return false;
  }
  if (setjmp(png_jmpbuf(state->png))) return false;
  png_set_read_fn(state->png, state, png_read_from_memory);
  png_read_info(state->png, state->info);
  state->width = png_get_image_width(state->png, state->info);
  state->height = png_get_image_height(state->png, state->info);
  const int color_type = png_get_color_type(state->png, state->info);
  // A tRNS chunk makes palette and gray pixels transparent. On an RGB image it is ignored:
  // Pillow opens such a file in mode "RGB", which convert_rgb returns as it is.
  const bool transparency_chunk = png_get_valid(state->png, state->info, PNG_INFO_tRNS) != 0;
  state->has_alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0 ||
                     (transparency_chunk && color_type != PNG_COLOR_TYPE_RGB);
  return true;
}

// Stage 2: every pixel, as 8-bit RGB or RGBA rows into `rows` (height pointers).
bool png_pixels_stage(PngState* state, png_bytepp rows) {
  if (setjmp(png_jmpbuf(state->png))) return false;
  png_structp png = state->png;
  const int color_type = png_get_color_type(png, state->info);
  const int bit_depth = png_get_bit_depth(png, state->info);
  if (bit_depth == 16) png_set_strip_16(png);  // the high byte, as Pillow keeps
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if ((color_type & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
  if (state->has_alpha && png_get_valid(png, state->info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, state->info);
  const unsigned channels = state->has_alpha ? 4 : 3;
  if (png_get_bit_depth(png, state->info) != 8 || png_get_channels(png, state->info) != channels ||
      png_get_rowbytes(png, state->info) != size_t(state->width) * channels) {
    std::snprintf(state->message, sizeof state->message,
                  "unexpected pixel layout after conversion (%d channels of %d bits)",
                  int(png_get_channels(png, state->info)), int(png_get_bit_depth(png, state->info)));
    return false;
  }
  png_read_image(png, rows);
  return true;
}

// Frees libpng's state however far decoding got.
struct PngStateGuard {
  PngState& state;
  ~PngStateGuard() {
    if (state.png) png_destroy_read_struct(&state.png, state.info ? &state.info : nullptr, nullptr);
  }
};

RgbImage decode_png(std::span<const uint8_t> bytes, const std::string& what, const ImageLimits& limits) {
  PngState state;
  PngStateGuard guard{state};
  state.data = bytes.data();
  state.size = bytes.size();
  require(png_header_stage(&state), what, ": corrupt or truncated PNG: ", state.message);
  check_limits(state.width, state.height, "PNG", what, limits);
  const int width = int(state.width), height = int(state.height);
  const int channels = state.has_alpha ? 4 : 3;
  std::vector<uint8_t> pixels = allocate_pixels(width, height, channels, what);
  std::vector<png_bytep> rows(static_cast<size_t>(height));
  for (int y = 0; y < height; ++y) rows[size_t(y)] = pixels.data() + size_t(y) * size_t(width) * channels;
  require(png_pixels_stage(&state, rows.data()), what, ": corrupt or truncated PNG: ", state.message);
  if (state.has_alpha) return composite_rgba(width, height, pixels, what);
  return RgbImage{width, height, std::move(pixels)};
}

// ---------------------------------------------------------------- JPEG (libjpeg-turbo)

// Real progressive files have about ten scans; a crafted one with thousands of tiny scans can
// keep the decoder busy for minutes. libjpeg-turbo's own TurboJPEG API offers the same cap.
constexpr int kMaxJpegScans = 500;

struct JpegErrors {
  jpeg_error_mgr manager;  // first, so libjpeg's pointer to it is a pointer to JpegErrors
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX + 64];
};

struct JpegState {
  jpeg_decompress_struct decompress;
  JpegErrors errors;
  jpeg_progress_mgr progress;
  bool created;
};

[[noreturn]] void jpeg_on_error(j_common_ptr info) {
  auto* errors = reinterpret_cast<JpegErrors*>(info->err);
  (*info->err->format_message)(info, errors->message);
  std::longjmp(errors->jump, 1);
}

// Warnings are corrupt-but-decodable data, which Pillow accepts too, except running out of
// data: libjpeg would pad the image with gray, and a truncated upload should be an error.
void jpeg_on_message(j_common_ptr info, int level) {
  if (level >= 0) return;  // trace messages
  if (info->err->msg_code == JWRN_JPEG_EOF) jpeg_on_error(info);
  info->err->num_warnings++;
}

void jpeg_silent(j_common_ptr) {}

void jpeg_check_scan_count(j_common_ptr info) {
  if (!info->is_decompressor) return;
  const int scans = reinterpret_cast<j_decompress_ptr>(info)->input_scan_number;
  if (scans <= kMaxJpegScans) return;
  auto* errors = reinterpret_cast<JpegErrors*>(info->err);
  std::snprintf(errors->message, sizeof errors->message,
                "progressive JPEG with more than %d scans (refused: too slow to decode)", kMaxJpegScans);
  std::longjmp(errors->jump, 1);
}

// Stage 1: the header (image size, colour space).
bool jpeg_header_stage(JpegState* state, const uint8_t* data, size_t size) {
  j_decompress_ptr info = &state->decompress;
  info->err = jpeg_std_error(&state->errors.manager);
  state->errors.manager.error_exit = jpeg_on_error;
  state->errors.manager.emit_message = jpeg_on_message;
  state->errors.manager.output_message = jpeg_silent;
  if (setjmp(state->errors.jump)) return false;
  state->created = true;
  jpeg_create_decompress(info);
  state->progress.progress_monitor = jpeg_check_scan_count;
  info->progress = &state->progress;
  jpeg_mem_src(info, data, static_cast<unsigned long>(size));
  jpeg_read_header(info, TRUE);
  return true;
}

// CMYK -> RGB as Pillow converts: r = (255-c)(255-k)/255, rounded. Adobe's CMYK JPEGs (the
// ones with an Adobe marker: Photoshop's) store every sample inverted.
void cmyk_row_to_rgb(const uint8_t* cmyk, int width, bool inverted, uint8_t* rgb) {
  for (int x = 0; x < width; ++x, cmyk += 4, rgb += 3) {
    const unsigned ink_free_k = inverted ? cmyk[3] : 255u - cmyk[3];
    for (int c = 0; c < 3; ++c) {
      const unsigned ink_free = inverted ? cmyk[c] : 255u - cmyk[c];
      rgb[c] = static_cast<uint8_t>((ink_free * ink_free_k + 127u) / 255u);
    }
  }
}

// Stage 2: every scanline into `rgb` (width*height*3), through `cmyk_row` (width*4) when the
// file is CMYK / YCCK.
bool jpeg_pixels_stage(JpegState* state, uint8_t* rgb, uint8_t* cmyk_row) {
  j_decompress_ptr info = &state->decompress;
  if (setjmp(state->errors.jump)) return false;
  jpeg_start_decompress(info);
  const int components = cmyk_row ? 4 : 3;
  if (info->output_width != info->image_width || info->output_height != info->image_height ||
      info->output_components != components) {
    std::snprintf(state->errors.message, sizeof state->errors.message,
                  "unexpected output layout (%u x %u, %d components)", info->output_width,
                  info->output_height, info->output_components);
    return false;
  }
  const size_t row_bytes = size_t(info->output_width) * 3;
  while (info->output_scanline < info->output_height) {
    uint8_t* out = rgb + size_t(info->output_scanline) * row_bytes;
    JSAMPROW row = cmyk_row ? cmyk_row : out;
    if (jpeg_read_scanlines(info, &row, 1) != 1) {
      std::snprintf(state->errors.message, sizeof state->errors.message, "no scanline decoded");
      return false;
    }
    if (cmyk_row) cmyk_row_to_rgb(cmyk_row, int(info->output_width), info->saw_Adobe_marker, out);
  }
  return true;
}

struct JpegStateGuard {
  JpegState& state;
  ~JpegStateGuard() {
    if (state.created) jpeg_destroy_decompress(&state.decompress);
  }
};

RgbImage decode_jpeg(std::span<const uint8_t> bytes, const std::string& what, const ImageLimits& limits) {
  JpegState state{};
  JpegStateGuard guard{state};
  require(jpeg_header_stage(&state, bytes.data(), bytes.size()), what,
          ": corrupt or truncated JPEG: ", state.errors.message);
  j_decompress_ptr info = &state.decompress;
  check_limits(info->image_width, info->image_height, "JPEG", what, limits);
  const bool cmyk = info->jpeg_color_space == JCS_CMYK || info->jpeg_color_space == JCS_YCCK;
  // Gray and YCbCr are converted to RGB by libjpeg; CMYK (YCCK is converted to CMYK) by us.
  info->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  const int width = int(info->image_width), height = int(info->image_height);
  RgbImage image{width, height, allocate_pixels(width, height, 3, what)};
  std::vector<uint8_t> cmyk_row = cmyk ? allocate_pixels(width, 1, 4, what) : std::vector<uint8_t>{};
  require(jpeg_pixels_stage(&state, image.pixels.data(), cmyk ? cmyk_row.data() : nullptr), what,
          ": corrupt or truncated JPEG: ", state.errors.message);
  return image;
}

// ---------------------------------------------------------------- WebP (libwebp)

const char* webp_status_text(VP8StatusCode status) {
  switch (status) {
    case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
    case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR: return "corrupt data (bitstream error)";
    case VP8_STATUS_UNSUPPORTED_FEATURE: return "uses a feature libwebp does not support";
    case VP8_STATUS_SUSPENDED: return "decoding suspended";
    case VP8_STATUS_USER_ABORT: return "decoding aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA: return "the data ends early (truncated file)";
    default: return "unknown error";
  }
}

// An animated WebP gives its first frame, as Pillow opens one (frame 0, drawn on the canvas
// cleared to transparent, then composited onto white like any transparency). The canvas size
// was checked against the limits before the decoder allocates it.
RgbImage decode_webp_first_frame(std::span<const uint8_t> bytes, int width, int height, const std::string& what) {
  WebPAnimDecoderOptions options;
  require(WebPAnimDecoderOptionsInit(&options) != 0, what, ": libwebp version mismatch");
  options.color_mode = MODE_RGBA;
  options.use_threads = 0;
  const WebPData data{bytes.data(), bytes.size()};
  std::unique_ptr<WebPAnimDecoder, void (*)(WebPAnimDecoder*)> decoder(WebPAnimDecoderNew(&data, &options),
                                                                        WebPAnimDecoderDelete);
  require(decoder != nullptr, what, ": corrupt or truncated animated WebP");
  WebPAnimInfo info;
  require(WebPAnimDecoderGetInfo(decoder.get(), &info) != 0, what, ": corrupt animated WebP");
  require(static_cast<int>(info.canvas_width) == width && static_cast<int>(info.canvas_height) == height, what,
          ": corrupt animated WebP (canvas size disagrees with its header)");
  uint8_t* canvas = nullptr;
  int timestamp = 0;
  require(info.frame_count > 0 && WebPAnimDecoderGetNext(decoder.get(), &canvas, &timestamp) != 0, what,
          ": corrupt or truncated animated WebP (its first frame does not decode)");
  std::vector<uint8_t> rgba = allocate_pixels(width, height, 4, what);
  std::memcpy(rgba.data(), canvas, rgba.size());
  return composite_rgba(width, height, rgba, what);
}

RgbImage decode_webp(std::span<const uint8_t> bytes, const std::string& what, const ImageLimits& limits) {
  WebPDecoderConfig config;
  require(WebPInitDecoderConfig(&config) != 0, what, ": libwebp version mismatch");
  const VP8StatusCode header = WebPGetFeatures(bytes.data(), bytes.size(), &config.input);
  require(header == VP8_STATUS_OK, what, ": corrupt or truncated WebP: ", webp_status_text(header));
  const int width = config.input.width, height = config.input.height;  // the canvas, if animated
  check_limits(width, height, "WebP", what, limits);
  if (config.input.has_animation) return decode_webp_first_frame(bytes, width, height, what);
  const bool alpha = config.input.has_alpha != 0;
  const int channels = alpha ? 4 : 3;
  std::vector<uint8_t> pixels = allocate_pixels(width, height, channels, what);
  // Decode straight into our buffer (libwebp allocates none for the output).
  config.output.colorspace = alpha ? MODE_RGBA : MODE_RGB;
  config.output.is_external_memory = 1;
  config.output.u.RGBA.rgba = pixels.data();
  config.output.u.RGBA.stride = width * channels;
  config.output.u.RGBA.size = pixels.size();
  const VP8StatusCode decoded = WebPDecode(bytes.data(), bytes.size(), &config);
  WebPFreeDecBuffer(&config.output);
  require(decoded == VP8_STATUS_OK, what, ": corrupt or truncated WebP: ", webp_status_text(decoded));
  if (alpha) return composite_rgba(width, height, pixels, what);
  return RgbImage{width, height, std::move(pixels)};
}

// ---------------------------------------------------------------- format detection

bool starts_with(std::span<const uint8_t> bytes, size_t offset, std::string_view magic) {
  return bytes.size() >= offset + magic.size() &&
         std::memcmp(bytes.data() + offset, magic.data(), magic.size()) == 0;
}

// A hint for formats users often send instead, for the error message.
std::string_view other_format_name(std::span<const uint8_t> bytes) {
  if (starts_with(bytes, 0, "GIF87a"sv) || starts_with(bytes, 0, "GIF89a"sv)) return "GIF";
  if (starts_with(bytes, 0, "BM"sv)) return "BMP";
  if (starts_with(bytes, 0, "II*\0"sv) || starts_with(bytes, 0, "MM\0*"sv)) return "TIFF";
  if (starts_with(bytes, 4, "ftypavif"sv) || starts_with(bytes, 4, "ftypavis"sv)) return "AVIF";
  if (starts_with(bytes, 4, "ftyphei"sv) || starts_with(bytes, 4, "ftypmif1"sv)) return "HEIC/HEIF";
  if (starts_with(bytes, 0, "<"sv)) return "text (HTML or SVG)";
  return "";
}

}  // namespace

std::string_view image_format(std::span<const uint8_t> bytes) {
  if (starts_with(bytes, 0, "\x89PNG\r\n\x1a\n"sv)) return "png";
  if (starts_with(bytes, 0, "\xff\xd8\xff"sv)) return "jpeg";
  if (starts_with(bytes, 0, "RIFF"sv) && starts_with(bytes, 8, "WEBP"sv)) return "webp";
  return "";
}

RgbImage decode_image(std::span<const uint8_t> bytes, const std::string& what, const ImageLimits& limits) {
  require(!bytes.empty(), what, " is empty (0 bytes); expected ", kExpected);
  const std::string_view format = image_format(bytes);
  if (format == "png") return apply_exif_orientation(decode_png(bytes, what, limits), image_exif_orientation(bytes));
  if (format == "jpeg") return apply_exif_orientation(decode_jpeg(bytes, what, limits), image_exif_orientation(bytes));
  if (format == "webp") return apply_exif_orientation(decode_webp(bytes, what, limits), image_exif_orientation(bytes));
  const std::string_view other = other_format_name(bytes);
  if (!other.empty()) fail(what, " is not a PNG, JPEG or WebP image (it looks like ", other, ")");
  fail(what, " is not a PNG, JPEG or WebP image (unrecognised first bytes)");
}

RgbImage read_image_file(const std::string& path, const ImageLimits& limits) {
  const MappedFile file(path);
  return decode_image(std::span<const uint8_t>(file.data(), file.size()), path, limits);
}

}  // namespace facet
