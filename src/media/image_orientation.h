// EXIF orientation: phones and cameras store a photo as the sensor read it and record in its
// EXIF data how to turn it upright (tag 0x0112, values 1-8). Hugging Face's image loading
// (transformers' load_image, via Pillow's ImageOps.exif_transpose) applies it before the
// processor sees the pixels, so a portrait photo reaches Gemma 4 upright; decode_image does
// the same for JPEG (APP1 "Exif"), PNG (eXIf chunk) and WebP (EXIF chunk).
#pragma once

#include <cstdint>
#include <span>

#include "media/image.h"

namespace facet {

// The orientation recorded in a TIFF-structured EXIF block (from its "II*\0"/"MM\0*" header):
// 1-8, or 1 (as stored) when the tag is missing, out of range or the block is malformed.
int exif_orientation_from_tiff(std::span<const uint8_t> tiff);

// The orientation of an encoded image ("png", "jpeg" or "webp" as image_format says), 1 when
// it carries none. Reads only the container's metadata; never fails on damaged input.
int image_exif_orientation(std::span<const uint8_t> bytes);

// The image turned upright for EXIF orientation 1-8 (see the table in the .cpp); 5-8 swap
// width and height. Other values return the image unchanged.
RgbImage apply_exif_orientation(RgbImage image, int orientation);

}  // namespace facet
