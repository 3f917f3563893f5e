// Test helper for test_report.sh: counts the pixels of a PNG (a browser screenshot) that are
// clearly green, clearly red, and not near-white. Prints "width height green red ink".
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s IMAGE.png\n", argv[0]);
    return 2;
  }
  const cv::Mat image = cv::imread(argv[1], cv::IMREAD_COLOR);  // BGR
  if (image.empty()) {
    std::fprintf(stderr, "png_colours: cannot read %s\n", argv[1]);
    return 1;
  }
  long green = 0, red = 0, ink = 0;
  for (int y = 0; y < image.rows; ++y) {
    const cv::Vec3b* row = image.ptr<cv::Vec3b>(y);
    for (int x = 0; x < image.cols; ++x) {
      const int b = row[x][0], g = row[x][1], r = row[x][2];
      if (g >= 130 && r <= 80 && b <= 80) ++green;
      if (r >= 170 && g <= 70 && b <= 70) ++red;
      if (r < 230 || g < 230 || b < 230) ++ink;
    }
  }
  std::printf("%d %d %ld %ld %ld\n", image.cols, image.rows, green, red, ink);
  return 0;
}
