#pragma once
// Small hand-made embeddings for metric tests: unit vectors in the plane at given angles.
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace nsl::test {

// float32 [n, 2]: (cos a, sin a) for each angle a in degrees.
inline torch::Tensor angles(const std::vector<double>& degrees) {
  torch::Tensor out = torch::empty({static_cast<int64_t>(degrees.size()), 2}, torch::kFloat32);
  for (size_t i = 0; i < degrees.size(); ++i) {
    const double a = degrees[i] * M_PI / 180.0;
    out[static_cast<int64_t>(i)][0] = std::cos(a);
    out[static_cast<int64_t>(i)][1] = std::sin(a);
  }
  return out;
}

inline torch::Tensor as_tensor(const std::vector<int64_t>& y) {
  return torch::tensor(y, torch::kInt64);
}

}  // namespace nsl::test
