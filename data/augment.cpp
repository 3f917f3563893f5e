#include "data/augment.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/seed.h"
#include "common/shuffle.h"
#include "data/shard_batch_source.h"

namespace nsl {

namespace {

constexpr uint64_t kAugmentStream = 0x4155474d454e54ULL;  // keeps these seeds apart

// Uniform in [0, 1) from the top 53 bits: no dependence on the standard library's distributions.
double uniform01(std::mt19937_64& engine) {
  return static_cast<double>(engine() >> 11) * 0x1.0p-53;
}

double uniform(std::mt19937_64& engine, double lo, double hi) {
  return lo + (hi - lo) * uniform01(engine);
}

// Python's round() of a non-negative double: half to even, as torchvision computes crop sizes.
int64_t round_half_even(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

// Source taps of one output coordinate: out = w0 * in[i0] + w1 * in[i1].
struct Tap {
  int64_t i0 = 0, i1 = 0;
  double w0 = 1, w1 = 0;
};

// Taps for the outputs [first, first + count) of a resize from `in` to `out` samples.
std::vector<Tap> taps(int64_t in, int64_t out, int64_t first, int64_t count) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  std::vector<Tap> t(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) {
    const double src = std::max(0.0, (static_cast<double>(first + k) + 0.5) * scale - 0.5);
    Tap& tap = t[static_cast<size_t>(k)];
    tap.i0 = std::min(static_cast<int64_t>(src), in - 1);
    tap.i1 = std::min(tap.i0 + 1, in - 1);
    tap.w1 = src - static_cast<double>(tap.i0);
    tap.w0 = 1.0 - tap.w1;
  }
  return t;
}

}  // namespace

uint64_t augment_seed(uint64_t seed, int64_t epoch, int64_t index) {
  return derive_seed(
      {seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(index), kAugmentStream});
}

SampleAugment draw_augment(const AugmentOptions& o, int64_t height, int64_t width, uint64_t seed) {
  std::mt19937_64 engine(seed);
  SampleAugment a;
  const double area = static_cast<double>(height * width);
  const double log_lo = std::log(o.ratio_min), log_hi = std::log(o.ratio_max);
  bool found = false;
  for (int attempt = 0; attempt < 10 && !found; ++attempt) {
    const double target = area * uniform(engine, o.scale_min, o.scale_max);
    const double ratio = std::exp(uniform(engine, log_lo, log_hi));
    const int64_t w = round_half_even(std::sqrt(target * ratio));
    const int64_t h = round_half_even(std::sqrt(target / ratio));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      a.box.height = h;
      a.box.width = w;
      a.box.top =
          static_cast<int64_t>(uniform_below(engine, static_cast<uint64_t>(height - h + 1)));
      a.box.left =
          static_cast<int64_t>(uniform_below(engine, static_cast<uint64_t>(width - w + 1)));
      found = true;
    }
  }
  if (!found) {
    const double in_ratio = static_cast<double>(width) / static_cast<double>(height);
    int64_t w = width, h = height;
    if (in_ratio < o.ratio_min) {
      h = round_half_even(static_cast<double>(w) / o.ratio_min);
    } else if (in_ratio > o.ratio_max) {
      w = round_half_even(static_cast<double>(h) * o.ratio_max);
    }
    a.box = {(height - h) / 2, (width - w) / 2, h, w};
  }
  // The coin is drawn even without flipping so the crop never depends on the flip setting.
  const bool coin = (engine() >> 63) != 0;
  a.flip = o.flip && coin;
  return a;
}

void normalise_chw(const uint8_t* src, int64_t height, int64_t width, int64_t channels,
                   float* dst) {
  const int64_t plane = height * width;
  for (int64_t p = 0; p < plane; ++p)
    for (int64_t c = 0; c < channels; ++c)
      dst[c * plane + p] = (static_cast<float>(src[p * channels + c]) / 255.0f - 0.5f) / 0.5f;
}

void resize_window_normalised(const uint8_t* src, int64_t height, int64_t width, int64_t channels,
                              const CropBox& box, const ResizeWindow& win, float* dst) {
  if (box.top < 0 || box.left < 0 || box.height < 1 || box.width < 1 ||
      box.top + box.height > height || box.left + box.width > width || win.out_h < 1 ||
      win.out_w < 1 || win.top < 0 || win.left < 0 || win.top + win.out_h > win.resized_h ||
      win.left + win.out_w > win.resized_w)
    throw std::invalid_argument("resize_window_normalised: crop box or window out of range");
  const std::vector<Tap> rows = taps(box.height, win.resized_h, win.top, win.out_h);
  const std::vector<Tap> cols = taps(box.width, win.resized_w, win.left, win.out_w);
  const int64_t plane = win.out_h * win.out_w;
  const auto at = [&](int64_t y, int64_t x, int64_t c) {
    return static_cast<double>(src[((box.top + y) * width + box.left + x) * channels + c]);
  };
  for (int64_t y = 0; y < win.out_h; ++y) {
    const Tap& r = rows[static_cast<size_t>(y)];
    for (int64_t x = 0; x < win.out_w; ++x) {
      const Tap& k = cols[static_cast<size_t>(win.flip ? win.out_w - 1 - x : x)];
      for (int64_t c = 0; c < channels; ++c) {
        const double v = r.w0 * (k.w0 * at(r.i0, k.i0, c) + k.w1 * at(r.i0, k.i1, c)) +
                         r.w1 * (k.w0 * at(r.i1, k.i0, c) + k.w1 * at(r.i1, k.i1, c));
        dst[c * plane + y * win.out_w + x] = static_cast<float>((v / 255.0 - 0.5) / 0.5);
      }
    }
  }
}

void augment_image(const uint8_t* src, int64_t height, int64_t width, int64_t channels,
                   const SampleAugment& a, float* dst) {
  ResizeWindow win;
  win.resized_h = win.out_h = height;
  win.resized_w = win.out_w = width;
  win.flip = a.flip;
  resize_window_normalised(src, height, width, channels, a.box, win, dst);
}

torch::Tensor eval_resize_center_crop(const torch::Tensor& images, int64_t out_size,
                                      double resize_ratio) {
  if (images.dim() != 4 || images.scalar_type() != torch::kUInt8)
    throw std::invalid_argument("eval_resize_center_crop: expects uint8 [n, H, W, C]");
  const int64_t n = images.size(0), h = images.size(1), w = images.size(2), c = images.size(3);
  const int64_t shorter = round_half_even(static_cast<double>(out_size) * resize_ratio);
  ResizeWindow win;
  if (h <= w) {
    win.resized_h = shorter;
    win.resized_w = static_cast<int64_t>(static_cast<double>(shorter * w) / static_cast<double>(h));
  } else {
    win.resized_w = shorter;
    win.resized_h = static_cast<int64_t>(static_cast<double>(shorter * h) / static_cast<double>(w));
  }
  if (out_size < 1 || win.resized_h < out_size || win.resized_w < out_size)
    throw std::invalid_argument("eval_resize_center_crop: resizing " + std::to_string(h) + "x" +
                                std::to_string(w) + " to shorter side " + std::to_string(shorter) +
                                " leaves less than the " + std::to_string(out_size) +
                                " pixels of the crop");
  if (win.resized_h == h && win.resized_w == w && out_size == h && out_size == w)
    return normalise_images(images);
  win.out_h = win.out_w = out_size;
  win.top = round_half_even(static_cast<double>(win.resized_h - out_size) / 2.0);
  win.left = round_half_even(static_cast<double>(win.resized_w - out_size) / 2.0);
  const torch::Tensor src = images.contiguous();
  torch::Tensor out = torch::empty({n, c, out_size, out_size}, torch::kFloat32);
  const CropBox whole{0, 0, h, w};
  for (int64_t i = 0; i < n; ++i)
    resize_window_normalised(src.data_ptr<uint8_t>() + i * h * w * c, h, w, c, whole, win,
                             out.data_ptr<float>() + i * c * out_size * out_size);
  return out;
}

}  // namespace nsl
