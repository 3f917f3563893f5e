#pragma once
// Image file -> fixed-size uint8 pixels, with OpenCV. JPEG, PNG, PGM and BMP.
//   1. the file is read whole and checked for truncation (JPEG: an end-of-image marker after the
//      last start-of-scan; PNG: an IEND chunk);
//   2. decoded to 8-bit BGR (cv::IMREAD_COLOR: EXIF orientation applied, alpha dropped);
//   3. optionally cropped to the bounding box (rounded outwards to whole pixels, clipped to the
//      image);
//   4. resized to size x size with cv::INTER_AREA (aspect ratio not kept);
//   5. converted to RGB (channels 3) or to gray (channels 1, cv::COLOR_BGR2GRAY).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/prep/prep_item.h"

namespace nsl {

// Returns size * size * channels bytes in H, W, C order. Throws DataError naming the file when it
// cannot be read or decoded, is truncated, or the box leaves no pixel.
std::vector<uint8_t> load_image(const std::string& file, const std::optional<BoundingBox>& bbox,
                                int64_t size, int64_t channels);

// OpenCV runs single-threaded inside each decode: prep parallelises over images instead.
void use_single_threaded_opencv();

}  // namespace nsl
