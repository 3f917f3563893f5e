#define BOOST_TEST_MODULE loss
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <vector>

#include "loss/dgcrl.h"
#include "model/ns_layer.h"

// A naive double-precision reference of METHOD.md section 3, written loop by loop from the
// formulas, independent of the tensor implementation.
namespace {

using Matrix = std::vector<std::vector<double>>;

Matrix to_matrix(const torch::Tensor& t) {
  const auto c = t.to(torch::kFloat64).contiguous();
  Matrix m(static_cast<size_t>(c.size(0)), std::vector<double>(static_cast<size_t>(c.size(1))));
  for (int64_t i = 0; i < c.size(0); ++i)
    for (int64_t j = 0; j < c.size(1); ++j) m[i][j] = c[i][j].item<double>();
  return m;
}

std::vector<double> unit(const std::vector<double>& v) {
  double n = 0;
  for (double x : v) n += x * x;
  n = std::sqrt(n);
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = n > 1e-12 ? v[i] / n : v[i] / 1e-12;
  return out;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Mean over the batch of L_i, for ranking "softmax" or "hinge".
double reference_loss(const Matrix& x, const Matrix& w, const std::vector<int64_t>& y, double s,
                      double m, bool hinge) {
  const size_t classes = w.size();
  double total = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const auto u = unit(x[i]);
    std::vector<double> cosv(classes);
    for (size_t j = 0; j < classes; ++j) cosv[j] = dot(u, unit(w[j]));
    const auto yi = static_cast<size_t>(y[i]);
    if (!hinge) {
      const double pos = s * (cosv[yi] - m);
      double denom = std::exp(pos);
      for (size_t j = 0; j < classes; ++j)
        if (j != yi) denom += std::exp(s * cosv[j]);
      total += -(pos - std::log(denom));
    } else {
      double sum = 0;
      const auto cy = unit(w[yi]);
      for (size_t j = 0; j < classes; ++j) {
        if (j == yi) continue;
        const auto cj = unit(w[j]);
        double dy = 0, dj = 0;
        for (size_t t = 0; t < u.size(); ++t) {
          dy += (u[t] - cy[t]) * (u[t] - cy[t]);
          dj += (u[t] - cj[t]) * (u[t] - cj[t]);
        }
        sum += std::max(0.0, m + dy - dj);
      }
      total += sum / static_cast<double>(classes - 1);
    }
  }
  return total / static_cast<double>(x.size());
}

torch::Tensor implementation_loss(const torch::Tensor& x, const torch::Tensor& w,
                                  const torch::Tensor& y, double s, double m, bool hinge) {
  const auto u = nsl::NSLayerImpl::unit(x);
  const auto scale = torch::full({}, s, x.options());
  // The softmax path is the one EmbeddingLoss runs: center normalisation folded into the logits.
  const auto per = hinge ? nsl::hinge_ranking_loss(nsl::center_cosines(u, w), y, m)
                         : nsl::center_softmax_ranking_loss(u, w, y, scale, m);
  return per.mean();
}

struct Case {
  torch::Tensor x, w, y;
};

Case random_case(int64_t seed, torch::Dtype dtype) {
  torch::manual_seed(seed);
  return {torch::randn({6, 5}, dtype), torch::randn({4, 5}, dtype),
          torch::tensor({0, 1, 2, 3, 1, 0}, torch::kInt64)};
}

// Central finite differences of the reference with respect to every entry of `which`.
Matrix numeric_gradient(Matrix x, Matrix w, const std::vector<int64_t>& y, double s, double m,
                        bool hinge, bool wrt_x) {
  Matrix& target = wrt_x ? x : w;
  Matrix grad = target;
  const double h = 1e-6;
  for (size_t i = 0; i < target.size(); ++i) {
    for (size_t j = 0; j < target[i].size(); ++j) {
      const double keep = target[i][j];
      target[i][j] = keep + h;
      const double up = reference_loss(x, w, y, s, m, hinge);
      target[i][j] = keep - h;
      const double down = reference_loss(x, w, y, s, m, hinge);
      target[i][j] = keep;
      grad[i][j] = (up - down) / (2 * h);
    }
  }
  return grad;
}

void check_case(bool hinge, torch::Dtype dtype, double value_tol, double grad_tol) {
  for (int64_t seed : {1, 2, 3}) {
    Case c = random_case(seed, dtype);
    const double s = 16.0, m = 0.1;
    auto x = c.x.clone().requires_grad_(true);
    auto w = c.w.clone().requires_grad_(true);
    auto loss = implementation_loss(x, w, c.y, s, m, hinge);
    loss.backward();
    std::vector<int64_t> y(c.y.data_ptr<int64_t>(), c.y.data_ptr<int64_t>() + c.y.numel());
    const Matrix xm = to_matrix(c.x), wm = to_matrix(c.w);
    const double ref = reference_loss(xm, wm, y, s, m, hinge);
    BOOST_TEST(loss.item<double>() == ref, boost::test_tools::tolerance(value_tol));
    const Matrix gx = numeric_gradient(xm, wm, y, s, m, hinge, true);
    const Matrix gw = numeric_gradient(xm, wm, y, s, m, hinge, false);
    const Matrix ax = to_matrix(x.grad()), aw = to_matrix(w.grad());
    // Errors relative to the largest gradient entry: tiny entries carry only round-off.
    auto check = [&](const Matrix& analytic, const Matrix& numeric) {
      double scale = 0;
      for (const auto& row : numeric)
        for (double v : row) scale = std::max(scale, std::abs(v));
      for (size_t i = 0; i < numeric.size(); ++i)
        for (size_t j = 0; j < numeric[i].size(); ++j)
          BOOST_TEST(std::abs(analytic[i][j] - numeric[i][j]) <= grad_tol * scale,
                     analytic[i][j] << " vs " << numeric[i][j]);
    };
    check(ax, gx);
    check(aw, gw);
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(softmax_ranking_matches_reference_float64) {
  // Values to 1e-9 relative; gradients against finite differences (their own error ~1e-7).
  check_case(false, torch::kFloat64, 1e-9, 1e-5);
}

BOOST_AUTO_TEST_CASE(softmax_ranking_matches_reference_float32) {
  check_case(false, torch::kFloat32, 1e-4, 2e-2);
}

BOOST_AUTO_TEST_CASE(hinge_ranking_matches_reference_float64) {
  check_case(true, torch::kFloat64, 1e-9, 1e-5);
}

BOOST_AUTO_TEST_CASE(softmax_gradient_matches_closed_form) {
  // dL_i/dcos_ij = s (p_ij - [j = y_i]) with p the softmax of the margin-adjusted logits.
  torch::manual_seed(5);
  auto cosv = (torch::rand({3, 4}, torch::kFloat64) * 2 - 1).requires_grad_(true);
  const auto y = torch::tensor({2, 0, 3}, torch::kInt64);
  const double s = 8, m = 0.2;
  nsl::softmax_ranking_loss(cosv, y, torch::full({}, s, torch::kFloat64), m).sum().backward();
  for (int64_t i = 0; i < 3; ++i) {
    std::vector<double> z(4);
    double norm = 0;
    for (int64_t j = 0; j < 4; ++j) {
      z[j] = s * (cosv[i][j].item<double>() - (j == y[i].item<int64_t>() ? m : 0.0));
    }
    for (double v : z) norm += std::exp(v);
    for (int64_t j = 0; j < 4; ++j) {
      const double expected = s * (std::exp(z[j]) / norm - (j == y[i].item<int64_t>() ? 1 : 0));
      BOOST_TEST(cosv.grad()[i][j].item<double>() == expected, boost::test_tools::tolerance(1e-12));
    }
  }
}

BOOST_AUTO_TEST_CASE(learned_scale_gradient_matches_finite_difference) {
  for (double m : {0.0, 0.2}) {
    Case c = random_case(11, torch::kFloat64);
    std::vector<int64_t> y(c.y.data_ptr<int64_t>(), c.y.data_ptr<int64_t>() + c.y.numel());
    const Matrix xm = to_matrix(c.x), wm = to_matrix(c.w);
    const double s = 12.0, h = 1e-6;
    const double numeric =
        (reference_loss(xm, wm, y, s + h, m, false) - reference_loss(xm, wm, y, s - h, m, false)) /
        (2 * h);
    auto scale = torch::full({}, s, torch::kFloat64).requires_grad_(true);
    nsl::center_softmax_ranking_loss(nsl::NSLayerImpl::unit(c.x), c.w, c.y, scale, m)
        .mean()
        .backward();
    BOOST_TEST(scale.grad().item<double>() == numeric, boost::test_tools::tolerance(1e-7));
  }
}

BOOST_AUTO_TEST_CASE(folded_normalisation_equals_cosine_path) {
  torch::manual_seed(21);
  const auto u = nsl::NSLayerImpl::unit(torch::randn({7, 6}, torch::kFloat64));
  auto w = torch::randn({5, 6}, torch::kFloat64);
  w[3] = torch::zeros({6}, torch::kFloat64);  // a zero center: norm clamped, cosines 0
  const auto y = torch::tensor({0, 1, 2, 3, 4, 0, 3}, torch::kInt64);
  auto w1 = w.clone().requires_grad_(true), w2 = w.clone().requires_grad_(true);
  auto u1 = u.clone().requires_grad_(true), u2 = u.clone().requires_grad_(true);
  const auto s = torch::full({}, 10.0, torch::kFloat64);
  const auto a = nsl::center_softmax_ranking_loss(u1, w1, y, s, 0.15);
  const auto b = nsl::softmax_ranking_loss(nsl::center_cosines(u2, w2), y, s, 0.15);
  (a * torch::arange(7, torch::kFloat64)).sum().backward();
  (b * torch::arange(7, torch::kFloat64)).sum().backward();
  BOOST_TEST(torch::allclose(a, b, 1e-12, 1e-12));
  BOOST_TEST(torch::allclose(u1.grad(), u2.grad(), 1e-12, 1e-12));
  BOOST_TEST(torch::allclose(w1.grad(), w2.grad(), 1e-12, 1e-12));
  BOOST_TEST(torch::isfinite(w1.grad()).all().item<bool>());
}

BOOST_AUTO_TEST_CASE(large_scale_does_not_overflow) {
  const auto cosv = torch::tensor({{1.0f, -1.0f, 0.99f}}, torch::kFloat32);
  const auto y = torch::tensor({1}, torch::kInt64);
  const auto l = nsl::softmax_ranking_loss(cosv, y, torch::full({}, 128.0f), 0.1);
  BOOST_TEST(std::isfinite(l.item<float>()));
  // -log softmax = logsumexp - z_y; here dominated by 128*(1 - (-1.1)) = 268.8
  BOOST_TEST(l.item<float>() == 268.8f + std::log1p(std::exp(128.0f * (0.99f - 1.0f))),
             boost::test_tools::tolerance(1e-4f));
}

BOOST_AUTO_TEST_CASE(zero_embedding_gives_no_nan) {
  auto x = torch::zeros({2, 5}, torch::kFloat32);
  x[1] = torch::ones({5});
  x.requires_grad_(true);
  auto w = torch::randn({3, 5}).requires_grad_(true);
  auto loss = implementation_loss(x, w, torch::tensor({0, 2}, torch::kInt64), 32, 0.1, false);
  loss.backward();
  BOOST_TEST(std::isfinite(loss.item<float>()));
  BOOST_TEST(torch::isfinite(x.grad()).all().item<bool>());
  BOOST_TEST(torch::isfinite(w.grad()).all().item<bool>());
}

BOOST_AUTO_TEST_CASE(ns_layer_scales_unit_vectors) {
  nsl::NSLayer fixed(32.0, false);
  const auto x = torch::tensor({{3.0f, 4.0f}});
  const auto f = fixed->forward(x);
  BOOST_TEST(f[0][0].item<float>() == 32.0f * 0.6f, boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(f[0][1].item<float>() == 32.0f * 0.8f, boost::test_tools::tolerance(1e-6f));
  BOOST_TEST(fixed->parameters().empty());
  nsl::NSLayer learned(300.0, true);  // clamped to 128
  BOOST_TEST(learned->parameters().size() == 1u);
  BOOST_TEST(learned->scale().item<float>() == 128.0f, boost::test_tools::tolerance(1e-5f));
}

BOOST_AUTO_TEST_CASE(one_class_and_duplicate_centers_give_no_nan) {
  for (bool hinge : {false, true}) {
    BOOST_TEST_CONTEXT((hinge ? "hinge" : "softmax")) {
      // C = 1: the only center is every sample's positive; nothing to rank against.
      auto x = torch::randn({3, 4}).requires_grad_(true);
      auto w1 = torch::randn({1, 4}).requires_grad_(true);
      auto l1 = implementation_loss(x, w1, torch::zeros({3}, torch::kInt64), 16, 0.1, hinge);
      // Duplicate centers: two classes with the same direction.
      auto w2 = torch::ones({2, 4}).requires_grad_(true);
      auto l2 = implementation_loss(x, w2, torch::tensor({0, 1, 1}, torch::kInt64), 16, 0.1, hinge);
      (l1 + l2).backward();
      BOOST_TEST(std::isfinite(l1.item<float>()));
      BOOST_TEST(std::isfinite(l2.item<float>()));
      BOOST_TEST(torch::isfinite(x.grad()).all().item<bool>());
      BOOST_TEST(torch::isfinite(w1.grad()).all().item<bool>());
      BOOST_TEST(torch::isfinite(w2.grad()).all().item<bool>());
    }
  }
  // Softmax with C = 1: -log(1) = 0 exactly.
  const auto l = nsl::softmax_ranking_loss(
      torch::tensor({{0.3f}}), torch::zeros({1}, torch::kInt64), torch::full({}, 32.0f), 0.1);
  BOOST_TEST(l.item<float>() == 0.0f);
}
