#pragma once
// The dtype of a collective's tensor as the back ends' messages print it ("float32", "int64").
#include <torch/torch.h>

#include <string>

namespace nsl {

inline std::string dtype_name(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return "float32";
    case torch::kFloat64:
      return "float64";
    case torch::kInt64:
      return "int64";
    case torch::kInt32:
      return "int32";
    case torch::kUInt8:
      return "uint8";
    default:
      return c10::toString(t.scalar_type());
  }
}

}  // namespace nsl
