#pragma once
// A generated fine-grained dataset, deterministic from a seed: each class is a composition of 3-5
// strokes (line segments and circular arcs in the unit square); classes come in families of 4 that
// share 2 strokes and differ in the rest. Every image of a class is rendered anti-aliased with its
// own affine jitter, stroke width, endpoint wobble, contrast/brightness and Gaussian noise.
// Classes [0, classes/2) form split "train", the rest "test". Grayscale (C = 1), uint8.
#include <cstdint>
#include <string>
#include <vector>

namespace nsl {

struct SyntheticSpec {
  int64_t classes = 300;
  int64_t images_per_class = 16;
  int64_t image_size = 32;
  int64_t shards = 8;  // per split
  uint64_t seed = 1;
};

// Throws ConfigError with a clear message for an unusable spec.
void validate(const SyntheticSpec& spec);

// Renders image `image` of global class `cls`: image_size * image_size bytes, row-major. A pure
// function of (spec.seed, spec.image_size, cls, image).
std::vector<uint8_t> render_synthetic_image(const SyntheticSpec& spec, int64_t cls, int64_t image);

// Writes the dataset (through DatasetWriter) to out_dir, replacing it atomically.
void write_synthetic(const SyntheticSpec& spec, const std::string& out_dir);

}  // namespace nsl
