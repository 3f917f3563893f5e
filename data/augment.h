#pragma once
// Per-sample image transforms of the loader, plain loops on one image at a time so that decode
// workers never call into LibTorch: the training augmentation (torchvision's RandomResizedCrop +
// RandomHorizontalFlip, bilinear without antialiasing) and the evaluation resize + center crop.
// Every output is float32 CHW normalised as (x / 255 - 0.5) / 0.5.
#include <torch/torch.h>

#include <cstdint>

namespace nsl {

struct AugmentOptions {
  bool enabled = false;
  double scale_min = 0.5, scale_max = 1.0;              // crop area / image area
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;  // crop width / height
  bool flip = true;                                     // horizontal, p = 0.5
};

struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

struct SampleAugment {
  CropBox box;
  bool flip = false;
};

// The stream of one sample's augmentation: a pure function of (seed, epoch, global index), so a
// sample is transformed the same way whatever the world size, worker count or thread timing.
uint64_t augment_seed(uint64_t seed, int64_t epoch, int64_t index);

// torchvision's RandomResizedCrop.get_params (10 tries, then the central crop clamped to the
// ratio range) and a fair coin for the flip, drawn from `seed` with library-independent draws.
SampleAugment draw_augment(const AugmentOptions& options, int64_t height, int64_t width,
                           uint64_t seed);

// dst[c][y][x] = (src[y][x][c] / 255 - 0.5) / 0.5 in float: bitwise what normalise_images gives.
void normalise_chw(const uint8_t* src_hwc, int64_t height, int64_t width, int64_t channels,
                   float* dst_chw);

// `box` of the HWC image resized to resized_h x resized_w (bilinear, half-pixel centres, edges
// clamped: torch's interpolate with align_corners = false); the window [top, top + out_h) x
// [left, left + out_w) of the result, mirrored left-right when `flip`, is written normalised.
struct ResizeWindow {
  int64_t resized_h = 0, resized_w = 0, top = 0, left = 0, out_h = 0, out_w = 0;
  bool flip = false;
};
void resize_window_normalised(const uint8_t* src_hwc, int64_t height, int64_t width,
                              int64_t channels, const CropBox& box, const ResizeWindow& window,
                              float* dst_chw);

// Training transform of one image: the crop resized back to height x width, then the flip.
void augment_image(const uint8_t* src_hwc, int64_t height, int64_t width, int64_t channels,
                   const SampleAugment& augment, float* dst_chw);

// Evaluation transform, torchvision's Resize(round(out_size * resize_ratio)) +
// CenterCrop(out_size): the shorter side resized to S = round(out_size * resize_ratio), the longer
// in proportion (truncated), then the central out_size x out_size window. uint8 [n, H, W, C] ->
// float32 [n, C, out, out]. When nothing is resized or cropped this is normalise_images exactly.
// Throws std::invalid_argument when the resized image is smaller than out_size.
torch::Tensor eval_resize_center_crop(const torch::Tensor& images_nhwc_uint8, int64_t out_size,
                                      double resize_ratio);

}  // namespace nsl
