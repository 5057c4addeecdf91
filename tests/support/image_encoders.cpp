#include "support/image_encoders.h"

#include <gtest/gtest.h>

#include <csetjmp>
#include <cstdlib>
#include <cstring>

#include <webp/encode.h>
#include <webp/mux.h>

namespace facet::test::image_encoders {
namespace {

void put_le32(Bytes& out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace

// ---------------------------------------------------------------- PNG encoder (libpng)

PngSpec png_spec(int width, int height, int color_type, int bit_depth, bool interlaced, bool transparent_color) {
  PngSpec spec;
  spec.width = width, spec.height = height, spec.color_type = color_type, spec.bit_depth = bit_depth;
  spec.interlaced = interlaced, spec.transparent_color = transparent_color;
  return spec;
}

static int channels_of(int color_type) {
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: case PNG_COLOR_TYPE_PALETTE: return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return 2;
    case PNG_COLOR_TYPE_RGB: return 3;
    default: return 4;
  }
}

static void append_to_vector(png_structp png, png_bytep data, size_t count) {
  auto* out = static_cast<Bytes*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + count);
}
static void flush_nothing(png_structp) {}

// Plain-data frame for libpng's longjmp (see image_decode.cpp).
static bool write_png_stage(const PngSpec* spec, png_bytepp rows, Bytes* out) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!info) return false;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, out, append_to_vector, flush_nothing);
  png_set_IHDR(png, info, spec->width, spec->height, spec->bit_depth, spec->color_type,
               spec->interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!spec->palette.empty()) png_set_PLTE(png, info, spec->palette.data(), int(spec->palette.size()));
  if (!spec->palette_alpha.empty())
    png_set_tRNS(png, info, spec->palette_alpha.data(), int(spec->palette_alpha.size()), nullptr);
  if (spec->transparent_color) png_set_tRNS(png, info, nullptr, 0, &spec->transparent);
  if (!spec->exif.empty())
    png_set_eXIf_1(png, info, static_cast<png_uint_32>(spec->exif.size()), const_cast<png_bytep>(spec->exif.data()));
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return true;
}

Bytes encode_png(const PngSpec& spec, const std::vector<uint16_t>& samples) {
  const int per_row = spec.width * channels_of(spec.color_type);
  EXPECT_EQ(samples.size(), size_t(per_row) * size_t(spec.height));
  const size_t row_bytes = (size_t(per_row) * spec.bit_depth + 7) / 8;
  Bytes packed(row_bytes * size_t(spec.height), 0);
  for (int y = 0; y < spec.height; ++y) {
    uint8_t* row = packed.data() + size_t(y) * row_bytes;
    for (int i = 0; i < per_row; ++i) {
      const unsigned v = samples[size_t(y) * per_row + i];
      if (spec.bit_depth == 16) {
        row[2 * i] = uint8_t(v >> 8);
        row[2 * i + 1] = uint8_t(v);
      } else if (spec.bit_depth == 8) {
        row[i] = uint8_t(v);
      } else {
        const int bit = i * spec.bit_depth;
        row[bit / 8] |= uint8_t(v << (8 - spec.bit_depth - bit % 8));
      }
    }
  }
  std::vector<png_bytep> rows;
  for (int y = 0; y < spec.height; ++y) rows.push_back(packed.data() + size_t(y) * row_bytes);
  Bytes out;
  EXPECT_TRUE(write_png_stage(&spec, rows.data(), &out));
  return out;
}

// ---------------------------------------------------------------- JPEG encoder (libjpeg)


namespace {
struct JpegWriteErrors {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
};
}  // namespace
[[noreturn]] static void jpeg_write_failed(j_common_ptr info) {
  std::longjmp(reinterpret_cast<JpegWriteErrors*>(info->err)->jump, 1);
}

static bool write_jpeg_stage(const JpegSpec* spec, const uint8_t* pixels, unsigned char** out, unsigned long* size) {
  jpeg_compress_struct info;
  JpegWriteErrors errors;
  info.err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = jpeg_write_failed;
  if (setjmp(errors.jump)) {
    jpeg_destroy_compress(&info);
    return false;
  }
  jpeg_create_compress(&info);
  jpeg_mem_dest(&info, out, size);
  info.image_width = JDIMENSION(spec->width);
  info.image_height = JDIMENSION(spec->height);
  info.input_components = spec->components;
  info.in_color_space = spec->color_space;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, spec->quality, TRUE);
  if (spec->full_chroma)
    for (int c = 0; c < info.num_components; ++c) info.comp_info[c].h_samp_factor = info.comp_info[c].v_samp_factor = 1;
  if (spec->progressive) jpeg_simple_progression(&info);
  info.write_Adobe_marker = spec->adobe_marker;
  jpeg_start_compress(&info, TRUE);
  if (!spec->app1.empty())
    jpeg_write_marker(&info, JPEG_APP0 + 1, spec->app1.data(), static_cast<unsigned>(spec->app1.size()));
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(pixels) + size_t(info.next_scanline) * spec->width * spec->components;
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  return true;
}

Bytes encode_jpeg(const JpegSpec& spec, const Bytes& pixels) {
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const bool ok = write_jpeg_stage(&spec, pixels.data(), &out, &size);
  EXPECT_TRUE(ok);
  Bytes bytes(out, out + (ok ? size : 0));
  std::free(out);
  return bytes;
}

// ---------------------------------------------------------------- WebP encoder (libwebp)


Bytes encode_webp(int width, int height, const Bytes& pixels, bool alpha, WebpKind kind) {
  uint8_t* out = nullptr;
  const int stride = width * (alpha ? 4 : 3);
  size_t size = 0;
  if (kind == WebpKind::kLossless)
    size = alpha ? WebPEncodeLosslessRGBA(pixels.data(), width, height, stride, &out)
                 : WebPEncodeLosslessRGB(pixels.data(), width, height, stride, &out);
  else
    size = alpha ? WebPEncodeRGBA(pixels.data(), width, height, stride, 100, &out)
                 : WebPEncodeRGB(pixels.data(), width, height, stride, 100, &out);
  EXPECT_GT(size, 0u);
  Bytes bytes(out, out + size);
  WebPFree(out);
  return bytes;
}


Bytes encode_animated_webp(int width, int height, const std::vector<Bytes>& rgba_frames) {
  WebPAnimEncoderOptions options;
  EXPECT_TRUE(WebPAnimEncoderOptionsInit(&options));
  WebPAnimEncoder* encoder = WebPAnimEncoderNew(width, height, &options);
  WebPConfig config;
  EXPECT_TRUE(WebPConfigInit(&config));
  config.lossless = 1;
  int timestamp = 0;
  for (const Bytes& rgba : rgba_frames) {
    WebPPicture picture;
    EXPECT_TRUE(WebPPictureInit(&picture));
    picture.use_argb = 1;
    picture.width = width, picture.height = height;
    EXPECT_TRUE(WebPPictureImportRGBA(&picture, rgba.data(), width * 4));
    EXPECT_TRUE(WebPAnimEncoderAdd(encoder, &picture, timestamp, &config));
    WebPPictureFree(&picture);
    timestamp += 100;
  }
  EXPECT_TRUE(WebPAnimEncoderAdd(encoder, nullptr, timestamp, nullptr));
  WebPData data;
  WebPDataInit(&data);
  EXPECT_TRUE(WebPAnimEncoderAssemble(encoder, &data));
  Bytes out(data.bytes, data.bytes + data.size);
  WebPDataClear(&data);
  WebPAnimEncoderDelete(encoder);
  return out;
}

Bytes encode_webp_with_exif(int width, int height, const Bytes& rgb, const Bytes& exif) {
  const Bytes simple = encode_webp(width, height, rgb, false, WebpKind::kLossless);
  // simple: "RIFF" size "WEBP" then one "VP8L" chunk; rebuild as VP8X + that chunk + EXIF.
  const Bytes image_chunk(simple.begin() + 12, simple.end());
  Bytes out = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'X', 10, 0, 0, 0};
  const uint32_t w1 = static_cast<uint32_t>(width - 1), h1 = static_cast<uint32_t>(height - 1);
  const Bytes vp8x = {0x08 /* EXIF present */, 0, 0, 0, uint8_t(w1), uint8_t(w1 >> 8), uint8_t(w1 >> 16),
                      uint8_t(h1), uint8_t(h1 >> 8), uint8_t(h1 >> 16)};
  out.insert(out.end(), vp8x.begin(), vp8x.end());
  out.insert(out.end(), image_chunk.begin(), image_chunk.end());
  const Bytes header = {'E', 'X', 'I', 'F', 0, 0, 0, 0};
  const size_t at = out.size();
  out.insert(out.end(), header.begin(), header.end());
  put_le32(out, at + 4, static_cast<uint32_t>(exif.size()));
  out.insert(out.end(), exif.begin(), exif.end());
  if (exif.size() % 2) out.push_back(0);
  put_le32(out, 4, static_cast<uint32_t>(out.size() - 8));
  return out;
}

Bytes exif_with_orientation(int orientation, bool little) {
  auto u16 = [&](unsigned v) {
    return little ? Bytes{uint8_t(v), uint8_t(v >> 8)} : Bytes{uint8_t(v >> 8), uint8_t(v)};
  };
  auto u32 = [&](unsigned v) {
    return little ? Bytes{uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)}
                  : Bytes{uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
  };
  Bytes out = little ? Bytes{'I', 'I'} : Bytes{'M', 'M'};
  for (const Bytes& part : {u16(42), u32(8),           // magic, IFD0 right after the header
                            u16(1),                     // one entry
                            u16(0x0112), u16(3), u32(1),  // orientation, SHORT, count 1
                            u16(static_cast<unsigned>(orientation)), u16(0),  // value, padding
                            u32(0)})                    // no next IFD
    out.insert(out.end(), part.begin(), part.end());
  return out;
}

}  // namespace facet::test::image_encoders
