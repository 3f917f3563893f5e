#include "data/prep/image_decode.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "common/error.h"

namespace nsl {

namespace {

[[noreturn]] void bad_image(const std::string& file, const std::string& why) {
  throw DataError("bad image '" + file + "': " + why);
}

std::vector<uint8_t> read_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) bad_image(file, "cannot open the file");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (in.bad()) bad_image(file, "read error");
  if (bytes.empty()) bad_image(file, "empty file");
  return bytes;
}

bool starts_with(const std::vector<uint8_t>& b, const char* magic, size_t n) {
  return b.size() >= n && std::memcmp(b.data(), magic, n) == 0;
}

// libjpeg fills a truncated scan with gray and only warns, so truncation is checked here: the
// entropy-coded data cannot contain 0xFFD9 (0xFF bytes are stuffed), so a complete file has the
// end-of-image marker after the start of its last scan.
bool jpeg_complete(const std::vector<uint8_t>& b) {
  size_t last_sos = 0;
  for (size_t i = 0; i + 1 < b.size(); ++i)
    if (b[i] == 0xFF && b[i + 1] == 0xDA) last_sos = i;
  if (last_sos == 0) return false;
  for (size_t i = last_sos + 2; i + 1 < b.size(); ++i)
    if (b[i] == 0xFF && b[i + 1] == 0xD9) return true;
  return false;
}

bool png_complete(const std::vector<uint8_t>& b) {
  const size_t from = b.size() > 1024 ? b.size() - 1024 : 0;
  const char iend[] = {'I', 'E', 'N', 'D'};
  return std::search(b.begin() + static_cast<std::ptrdiff_t>(from), b.end(), iend, iend + 4) !=
         b.end();
}

cv::Rect crop_rect(const BoundingBox& box, const cv::Mat& image) {
  const int x0 = std::max(0, static_cast<int>(std::floor(box.x)));
  const int y0 = std::max(0, static_cast<int>(std::floor(box.y)));
  const int x1 = std::min(image.cols, static_cast<int>(std::ceil(box.x + box.width)));
  const int y1 = std::min(image.rows, static_cast<int>(std::ceil(box.y + box.height)));
  return {x0, y0, std::max(0, x1 - x0), std::max(0, y1 - y0)};
}

}  // namespace

std::vector<uint8_t> load_image(const std::string& file, const std::optional<BoundingBox>& bbox,
                                int64_t size, int64_t channels) {
  const std::vector<uint8_t> bytes = read_file(file);
  if (starts_with(bytes, "\xFF\xD8", 2) && !jpeg_complete(bytes))
    bad_image(file, "truncated JPEG (no end-of-image marker)");
  if (starts_with(bytes, "\x89PNG", 4) && !png_complete(bytes))
    bad_image(file, "truncated PNG (no IEND chunk)");
  std::vector<uint8_t> out(static_cast<size_t>(size * size * channels));
  try {
    cv::Mat image = cv::imdecode(bytes, cv::IMREAD_COLOR);
    if (image.empty() || image.type() != CV_8UC3)
      bad_image(file, "not a decodable JPEG, PNG, PGM or BMP image");
    if (bbox) {
      const cv::Rect r = crop_rect(*bbox, image);
      if (r.area() == 0) bad_image(file, "the bounding box lies outside the image");
      image = image(r);
    }
    cv::Mat resized;
    cv::resize(image, resized, cv::Size(static_cast<int>(size), static_cast<int>(size)), 0, 0,
               cv::INTER_AREA);
    cv::Mat converted;
    cv::cvtColor(resized, converted, channels == 1 ? cv::COLOR_BGR2GRAY : cv::COLOR_BGR2RGB);
    std::memcpy(out.data(), converted.data, out.size());  // fresh Mat: continuous
  } catch (const cv::Exception& e) {
    bad_image(file, std::string("OpenCV: ") + e.what());
  }
  return out;
}

void use_single_threaded_opencv() { cv::setNumThreads(0); }

}  // namespace nsl
