#pragma once
// Naive double-precision building blocks for reference implementations in tests: plain loops over
// std::vector, independent of the tensor code under test.
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <vector>

namespace nsl::test {

using Matrix = std::vector<std::vector<double>>;

inline Matrix to_matrix(const torch::Tensor& t) {
  const auto c = t.to(torch::kFloat64).contiguous();
  Matrix m(static_cast<size_t>(c.size(0)), std::vector<double>(static_cast<size_t>(c.size(1))));
  const double* p = c.data_ptr<double>();
  for (size_t i = 0; i < m.size(); ++i)
    for (size_t j = 0; j < m[i].size(); ++j) m[i][j] = p[i * m[i].size() + j];
  return m;
}

inline std::vector<int64_t> to_labels(const torch::Tensor& t) {
  const auto c = t.to(torch::kInt64).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// v / max(||v||, 1e-12), as F::normalize does.
inline std::vector<double> unit(const std::vector<double>& v) {
  const double n = std::max(std::sqrt(dot(v, v)), 1e-12);
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = v[i] / n;
  return out;
}

inline Matrix unit_rows(const Matrix& m) {
  Matrix out;
  for (const auto& row : m) out.push_back(unit(row));
  return out;
}

inline double squared_distance(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

// Central finite differences of f with respect to every entry of m.
inline Matrix numeric_gradient(const std::function<double(const Matrix&)>& f, Matrix m,
                               double h = 1e-6) {
  Matrix grad = m;
  for (size_t i = 0; i < m.size(); ++i) {
    for (size_t j = 0; j < m[i].size(); ++j) {
      const double keep = m[i][j];
      m[i][j] = keep + h;
      const double up = f(m);
      m[i][j] = keep - h;
      const double down = f(m);
      m[i][j] = keep;
      grad[i][j] = (up - down) / (2 * h);
    }
  }
  return grad;
}

// Largest |a - b| relative to the largest |b|: small entries carry only round-off.
inline double max_relative_error(const Matrix& a, const Matrix& b) {
  double scale = 1e-300, err = 0;
  for (size_t i = 0; i < b.size(); ++i)
    for (size_t j = 0; j < b[i].size(); ++j) {
      scale = std::max(scale, std::abs(b[i][j]));
      err = std::max(err, std::abs(a[i][j] - b[i][j]));
    }
  return err / scale;
}

}  // namespace nsl::test
