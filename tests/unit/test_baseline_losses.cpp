// Baseline losses and decorrelation penalties against naive double-precision references written
// from the formulas (tests/support/naive.h), with finite-difference gradient checks.
#define BOOST_TEST_MODULE baseline_losses
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <limits>

#include "loss/decorrelation.h"
#include "loss/gram_schmidt.h"
#include "loss/pair_losses.h"
#include "loss/proxy_losses.h"
#include "model/ns_layer.h"
#include "support/naive.h"

using namespace nsl::test;
namespace tt = boost::test_tools;

namespace {

using Labels = std::vector<int64_t>;
const double kInf = std::numeric_limits<double>::infinity();

double ref_triplet(const Matrix& x, const Labels& y, double m, int64_t* active = nullptr) {
  const Matrix u = unit_rows(x);
  double total = 0;
  int64_t count = 0;
  for (size_t a = 0; a < u.size(); ++a) {
    for (size_t p = 0; p < u.size(); ++p) {
      if (p == a || y[p] != y[a]) continue;
      const double dap = squared_distance(u[a], u[p]);
      double semi = kInf, easiest = -kInf;
      bool any_neg = false;
      for (size_t n = 0; n < u.size(); ++n) {
        if (y[n] == y[a]) continue;
        any_neg = true;
        const double dan = squared_distance(u[a], u[n]);
        if (dan > dap) semi = std::min(semi, dan);
        easiest = std::max(easiest, dan);
      }
      if (!any_neg) continue;
      const double dan = semi < kInf ? semi : easiest;
      total += std::max(0.0, dap - dan + m);
      ++count;
    }
  }
  if (active) *active = count;
  return count ? total / static_cast<double>(count) : 0.0;
}

double ref_contrastive(const Matrix& x, const Labels& y, double pm, double nm) {
  const Matrix u = unit_rows(x);
  double pos = 0, neg = 0;
  int np = 0, nn = 0;
  for (size_t i = 0; i < u.size(); ++i)
    for (size_t j = 0; j < u.size(); ++j) {
      if (i == j) continue;
      const double d = 1 - dot(u[i], u[j]);
      if (y[i] == y[j]) {
        pos += std::max(0.0, d - pm);
        ++np;
      } else {
        neg += std::max(0.0, nm - d);
        ++nn;
      }
    }
  return (np ? pos / np : 0.0) + (nn ? neg / nn : 0.0);
}

double ref_multi_similarity(const Matrix& x, const Labels& y, double alpha, double beta,
                            double lambda, double eps) {
  const Matrix u = unit_rows(x);
  double total = 0;
  int anchors = 0;
  for (size_t i = 0; i < u.size(); ++i) {
    double max_neg = -kInf, min_pos = kInf;
    for (size_t j = 0; j < u.size(); ++j) {
      if (j == i) continue;
      const double s = dot(u[i], u[j]);
      if (y[j] == y[i])
        min_pos = std::min(min_pos, s);
      else
        max_neg = std::max(max_neg, s);
    }
    double sp = 0, sn = 0;
    bool kept = false;
    for (size_t j = 0; j < u.size(); ++j) {
      if (j == i) continue;
      const double s = dot(u[i], u[j]);
      if (y[j] == y[i] && s - eps < max_neg) {
        sp += std::exp(-alpha * (s - lambda));
        kept = true;
      }
      if (y[j] != y[i] && s + eps > min_pos) {
        sn += std::exp(beta * (s - lambda));
        kept = true;
      }
    }
    if (!kept) continue;
    total += std::log1p(sp) / alpha + std::log1p(sn) / beta;
    ++anchors;
  }
  return anchors ? total / anchors : 0.0;
}

double ref_proxy_nca(const Matrix& x, const Matrix& w, const Labels& y, double s) {
  const Matrix u = unit_rows(x), p = unit_rows(w);
  double total = 0;
  for (size_t i = 0; i < u.size(); ++i) {
    double denom = 0;
    for (size_t z = 0; z < p.size(); ++z)
      if (static_cast<int64_t>(z) != y[i]) denom += std::exp(-s * squared_distance(u[i], p[z]));
    if (p.size() > 1) total += s * squared_distance(u[i], p[y[i]]) + std::log(denom);
  }
  return total / static_cast<double>(u.size());
}

// ProxyNCA++: cross-entropy over all proxies (positive included) of logits -s ||u - p||^2.
double ref_proxy_nca_pp(const Matrix& x, const Matrix& w, const Labels& y, double s) {
  const Matrix u = unit_rows(x), p = unit_rows(w);
  double total = 0;
  for (size_t i = 0; i < u.size(); ++i) {
    double denom = 0;
    for (size_t z = 0; z < p.size(); ++z) denom += std::exp(-s * squared_distance(u[i], p[z]));
    total += s * squared_distance(u[i], p[y[i]]) + std::log(denom);
  }
  return total / static_cast<double>(u.size());
}

double ref_proxy_anchor(const Matrix& x, const Matrix& w, const Labels& y, double alpha,
                        double delta) {
  const Matrix u = unit_rows(x), p = unit_rows(w);
  double pos = 0, neg = 0;
  int with_pos = 0;
  for (size_t c = 0; c < p.size(); ++c) {
    double sp = 0, sn = 0;
    bool has = false;
    for (size_t i = 0; i < u.size(); ++i) {
      const double s = dot(u[i], p[c]);
      if (y[i] == static_cast<int64_t>(c)) {
        sp += std::exp(-alpha * (s - delta));
        has = true;
      } else {
        sn += std::exp(alpha * (s + delta));
      }
    }
    if (has) {
      pos += std::log1p(sp);
      ++with_pos;
    }
    neg += std::log1p(sn);
  }
  return (with_pos ? pos / with_pos : 0.0) + neg / static_cast<double>(p.size());
}

struct Batch {
  torch::Tensor x, w, y;
};

Batch random_batch(int64_t seed, int64_t b = 10, int64_t d = 6, int64_t c = 4) {
  torch::manual_seed(seed);
  auto y = torch::arange(b, torch::kInt64) % c;  // every class present at least twice when b >= 2c
  return {torch::randn({b, d}, torch::kFloat64), torch::randn({c, d}, torch::kFloat64),
          y.index_select(0, torch::randperm(b, torch::kInt64))};
}

// Checks value and input (and proxy) gradients of `impl` against `ref` by finite differences.
void check_against_reference(
    const std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&,
                                      const torch::Tensor&)>& impl,
    const std::function<double(const Matrix&, const Matrix&, const Labels&)>& ref,
    bool uses_proxies) {
  for (int64_t seed : {1, 2, 3}) {
    BOOST_TEST_CONTEXT("seed " << seed) {
      Batch b = random_batch(seed);
      auto x = b.x.clone().requires_grad_(true);
      auto w = b.w.clone().requires_grad_(true);
      auto value = impl(nsl::NSLayerImpl::unit(x), w, b.y);
      value.backward();
      const Labels y = to_labels(b.y);
      const Matrix xm = to_matrix(b.x), wm = to_matrix(b.w);
      BOOST_TEST(value.item<double>() == ref(xm, wm, y), tt::tolerance(1e-9));
      const Matrix gx = numeric_gradient([&](const Matrix& m) { return ref(m, wm, y); }, xm);
      BOOST_TEST(max_relative_error(to_matrix(x.grad()), gx) < 1e-5);
      if (uses_proxies) {
        const Matrix gw = numeric_gradient([&](const Matrix& m) { return ref(xm, m, y); }, wm);
        BOOST_TEST(max_relative_error(to_matrix(w.grad()), gw) < 1e-5);
      }
      // float32 agrees with the double reference to 1e-4 relative.
      auto value32 =
          impl(nsl::NSLayerImpl::unit(b.x.to(torch::kFloat32)), b.w.to(torch::kFloat32), b.y);
      BOOST_TEST(value32.item<double>() == ref(xm, wm, y), tt::tolerance(1e-4));
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(triplet_semihard_matches_reference) {
  check_against_reference(
      [](auto& u, auto&, auto& y) { return nsl::triplet_semihard_loss(u, y, 0.2).value; },
      [](auto& x, auto&, auto& y) { return ref_triplet(x, y, 0.2); }, false);
  Batch b = random_batch(4);
  int64_t expected = 0;
  ref_triplet(to_matrix(b.x), to_labels(b.y), 0.2, &expected);
  BOOST_TEST(nsl::triplet_semihard_loss(nsl::NSLayerImpl::unit(b.x), b.y, 0.2).active == expected);
}

BOOST_AUTO_TEST_CASE(contrastive_matches_reference) {
  check_against_reference(
      [](auto& u, auto&, auto& y) { return nsl::contrastive_loss(u, y, 0.0, 0.5).value; },
      [](auto& x, auto&, auto& y) { return ref_contrastive(x, y, 0.0, 0.5); }, false);
}

BOOST_AUTO_TEST_CASE(multi_similarity_matches_reference) {
  check_against_reference(
      [](auto& u, auto&, auto& y) {
        return nsl::multi_similarity_loss(u, y, 2.0, 50.0, 1.0, 0.1).value;
      },
      [](auto& x, auto&, auto& y) { return ref_multi_similarity(x, y, 2.0, 50.0, 1.0, 0.1); },
      false);
}

BOOST_AUTO_TEST_CASE(proxy_nca_matches_reference) {
  check_against_reference(
      [](auto& u, auto& w, auto& y) { return nsl::proxy_nca_loss(u, w, y, 3.0).mean(); },
      [](auto& x, auto& w, auto& y) { return ref_proxy_nca(x, w, y, 3.0); }, true);
}

BOOST_AUTO_TEST_CASE(proxy_nca_pp_matches_reference) {
  check_against_reference(
      [](auto& u, auto& w, auto& y) { return nsl::proxy_nca_pp_loss(u, w, y, 9.0).mean(); },
      [](auto& x, auto& w, auto& y) { return ref_proxy_nca_pp(x, w, y, 9.0); }, true);
}

BOOST_AUTO_TEST_CASE(proxy_anchor_matches_reference) {
  check_against_reference(
      [](auto& u, auto& w, auto& y) { return nsl::proxy_anchor_loss(u, w, y, 32.0, 0.1); },
      [](auto& x, auto& w, auto& y) { return ref_proxy_anchor(x, w, y, 32.0, 0.1); }, true);
}

BOOST_AUTO_TEST_CASE(one_class_batches_give_zero_not_nan) {
  auto x = torch::randn({5, 4}, torch::kFloat64).requires_grad_(true);
  const auto y = torch::zeros({5}, torch::kInt64);
  const auto u = nsl::NSLayerImpl::unit(x);
  const auto t = nsl::triplet_semihard_loss(u, y, 0.2);
  BOOST_TEST(t.value.item<double>() == 0.0);
  BOOST_TEST(t.active == 0);
  const auto total = t.value + nsl::multi_similarity_loss(u, y, 2, 50, 1, 0.1).value +
                     nsl::contrastive_loss(u, y, 0, 0.5).value +
                     nsl::proxy_nca_loss(u, torch::randn({1, 4}, torch::kFloat64), y, 3).sum();
  total.backward();
  BOOST_TEST(std::isfinite(total.item<double>()));
  BOOST_TEST(torch::isfinite(x.grad()).all().item<bool>());
}

BOOST_AUTO_TEST_CASE(zero_embeddings_and_duplicate_proxies_give_no_nan) {
  auto x = torch::zeros({4, 3}, torch::kFloat64).requires_grad_(true);
  auto w = torch::ones({2, 3}, torch::kFloat64).requires_grad_(true);  // duplicate proxies
  const auto y = torch::tensor({0, 0, 1, 1}, torch::kInt64);
  const auto u = nsl::NSLayerImpl::unit(x);
  const auto total = nsl::triplet_semihard_loss(u, y, 0.2).value +
                     nsl::contrastive_loss(u, y, 0, 0.5).value +
                     nsl::multi_similarity_loss(u, y, 2, 50, 1, 0.1).value +
                     nsl::proxy_nca_loss(u, w, y, 3).mean() +
                     nsl::proxy_anchor_loss(u, w, y, 32, 0.1) + nsl::inner_product_penalty(w, 0.1);
  total.backward();
  BOOST_TEST(std::isfinite(total.item<double>()));
  BOOST_TEST(torch::isfinite(x.grad()).all().item<bool>());
  BOOST_TEST(torch::isfinite(w.grad()).all().item<bool>());
}

BOOST_AUTO_TEST_CASE(iter_gs_gradient_is_the_pull_towards_gram_schmidt) {
  torch::manual_seed(8);
  auto w = (torch::randn({5, 7}, torch::kFloat64) * 2).requires_grad_(true);
  const double lambda = 0.3;
  const auto groups = nsl::gram_schmidt_groups(5, 7, 1, 1, true);
  nsl::iter_gs_penalty(w, groups, lambda).backward();
  // Expected: G = (lambda/C)(C_hat - GS(C_hat)) pushed through w -> w/||w||, whose Jacobian
  // transposed is (I - c c^T)/||w|| for each row.
  const Matrix wm = to_matrix(w.detach());
  const auto q = nsl::grouped_gram_schmidt(nsl::NSLayerImpl::unit(w.detach()), groups);
  const Matrix qm = to_matrix(q);
  Matrix expected = wm;
  for (size_t i = 0; i < wm.size(); ++i) {
    const auto c = unit(wm[i]);
    const double n = std::sqrt(dot(wm[i], wm[i]));
    std::vector<double> g(c.size());
    for (size_t t = 0; t < c.size(); ++t) g[t] = lambda / 5.0 * (c[t] - qm[i][t]);
    const double cg = dot(c, g);
    for (size_t t = 0; t < c.size(); ++t) expected[i][t] = (g[t] - c[t] * cg) / n;
  }
  BOOST_TEST(max_relative_error(to_matrix(w.grad()), expected) < 1e-10);
}

BOOST_AUTO_TEST_CASE(inner_product_penalty_matches_reference) {
  torch::manual_seed(9);
  auto w = torch::randn({4, 3}, torch::kFloat64).requires_grad_(true);
  auto ref = [](const Matrix& m) {
    const Matrix c = unit_rows(m);
    double s = 0;
    for (size_t i = 0; i < c.size(); ++i)
      for (size_t j = 0; j < c.size(); ++j)
        if (i != j) s += dot(c[i], c[j]) * dot(c[i], c[j]);
    return 0.1 * s / static_cast<double>(c.size() * (c.size() - 1));
  };
  auto value = nsl::inner_product_penalty(w, 0.1);
  value.backward();
  BOOST_TEST(value.item<double>() == ref(to_matrix(w.detach())), tt::tolerance(1e-12));
  BOOST_TEST(max_relative_error(to_matrix(w.grad()), numeric_gradient(ref, to_matrix(w.detach()))) <
             1e-6);
  BOOST_TEST(nsl::inner_product_penalty(torch::randn({1, 3}), 0.1).item<float>() == 0.0f);
}
