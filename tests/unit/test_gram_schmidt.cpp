#define BOOST_TEST_MODULE gram_schmidt
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "loss/decorrelation.h"
#include "loss/gram_schmidt.h"
#include "optim/adamw.h"

namespace {

// Independent reference: Householder QR of the ordered rows transposed, signs fixed so that
// diag(R) > 0, gives the same orthonormal sequence as Gram-Schmidt (METHOD.md section 4).
torch::Tensor qr_reference(const torch::Tensor& rows, const std::vector<int64_t>& order) {
  const auto idx = torch::tensor(order, torch::kInt64);
  const auto a = rows.to(torch::kFloat64).index_select(0, idx).t();
  auto [q, r] = torch::linalg_qr(a, "reduced");
  const auto signs = torch::sign(torch::diagonal(r));
  q = q * signs.unsqueeze(0);
  auto out = rows.to(torch::kFloat64).clone();
  out.index_copy_(0, idx, q.t());
  return out;
}

double max_off_orthonormal(const torch::Tensor& q) {
  const auto g = torch::matmul(q, q.t());
  return (g - torch::eye(q.size(0), torch::kFloat64)).abs().max().item<double>();
}

}  // namespace

BOOST_AUTO_TEST_CASE(rows_orthonormal_and_match_householder) {
  torch::manual_seed(3);
  const auto v = torch::randn({20, 32}, torch::kFloat64);
  std::vector<int64_t> order = {5, 2,  19, 0,  1,  3,  4,  6,  7,  8,
                                9, 10, 11, 12, 13, 14, 15, 16, 17, 18};
  const auto q = nsl::gram_schmidt(v, order);
  BOOST_TEST(max_off_orthonormal(q) < 1e-10);
  BOOST_TEST((q - qr_reference(v, order)).abs().max().item<double>() < 1e-10);
  // The first row in the order keeps its direction.
  const auto first = v[5] / v[5].norm();
  BOOST_TEST((q[5] - first).abs().max().item<double>() < 1e-12);
}

BOOST_AUTO_TEST_CASE(ill_conditioned_rows_stay_orthonormal) {
  // Nearly parallel rows defeat classical Gram-Schmidt; the two-pass modified version holds.
  torch::manual_seed(4);
  const auto base = torch::randn({1, 16}, torch::kFloat64);
  const auto v = base.repeat({8, 1}) + 1e-9 * torch::randn({8, 16}, torch::kFloat64);
  std::vector<int64_t> order = {0, 1, 2, 3, 4, 5, 6, 7};
  BOOST_TEST(max_off_orthonormal(nsl::gram_schmidt(v, order)) < 1e-10);
  // Exactly dependent rows are replaced by orthogonal ones rather than producing NaN.
  const auto dup = base.repeat({3, 1});
  const auto q = nsl::gram_schmidt(dup, {0, 1, 2});
  BOOST_TEST(torch::isfinite(q).all().item<bool>());
  BOOST_TEST(max_off_orthonormal(q) < 1e-10);
}

BOOST_AUTO_TEST_CASE(blockwise_groups_cover_classes_and_are_orthonormal) {
  torch::manual_seed(5);
  const int64_t classes = 50, dim = 16;
  const auto groups = nsl::gram_schmidt_groups(classes, dim, 11, 2, true);
  BOOST_TEST(groups.size() == 4u);  // ceil(50 / 16)
  std::set<int64_t> seen;
  for (const auto& g : groups) {
    BOOST_TEST(g.size() <= static_cast<size_t>(dim));
    BOOST_TEST(g.size() >= 12u);  // sizes as equal as possible: 13, 13, 12, 12
    seen.insert(g.begin(), g.end());
  }
  BOOST_TEST(seen.size() == static_cast<size_t>(classes));
  const auto v = torch::randn({classes, dim}, torch::kFloat64);
  const auto q = nsl::grouped_gram_schmidt(v, groups);
  for (const auto& g : groups) {
    const auto rows = q.index_select(0, torch::tensor(g, torch::kInt64));
    BOOST_TEST(max_off_orthonormal(rows) < 1e-10);
  }
  // Grouping is seeded by (seed, epoch): same inputs same groups, another epoch other groups.
  BOOST_TEST(nsl::gram_schmidt_groups(classes, dim, 11, 2, true) == groups);
  BOOST_TEST(nsl::gram_schmidt_groups(classes, dim, 11, 3, true) != groups);
}

BOOST_AUTO_TEST_CASE(more_classes_than_dim_without_blockwise_is_rejected) {
  BOOST_CHECK_THROW(nsl::gram_schmidt_groups(20, 8, 1, 1, false), nsl::ConfigError);
  BOOST_CHECK_NO_THROW(nsl::gram_schmidt_groups(8, 8, 1, 1, false));
}

BOOST_AUTO_TEST_CASE(epoch_gs_follows_the_formula) {
  torch::manual_seed(6);
  const auto w = torch::randn({6, 8}, torch::kFloat64) * 3.0;
  for (double alpha : {1.0, 0.5}) {
    const auto result = nsl::epoch_gram_schmidt(w, alpha, 9, 4, true);
    const auto groups = nsl::gram_schmidt_groups(6, 8, 9, 4, true);
    BOOST_TEST(groups.size() == 1u);
    const auto c_hat = w / w.norm(2, 1, true);
    const auto q = qr_reference(c_hat, groups[0]);
    auto expected = (1 - alpha) * c_hat + alpha * q;
    expected = expected / expected.norm(2, 1, true);
    BOOST_TEST((result.centers - expected).abs().max().item<double>() < 1e-10);
    BOOST_TEST(result.changed_rows.all().item<bool>());
  }
  const auto full = nsl::epoch_gram_schmidt(w, 1.0, 9, 4, true);
  BOOST_TEST(max_off_orthonormal(full.centers) < 1e-10);
}

BOOST_AUTO_TEST_CASE(optimizer_rows_reset_after_gs) {
  auto w = torch::randn({4, 3}).requires_grad_(true);
  nsl::AdamW opt;
  opt.add_group({w}, 1.0, 0.0);
  w.mutable_grad() = torch::ones({4, 3});
  opt.step();
  const auto mask = torch::tensor({true, false, true, false});
  opt.reset_rows(w, mask);
  const auto state = opt.state();
  const auto& exp_avg = state[1].second;
  BOOST_TEST(exp_avg[0].abs().sum().item<float>() == 0.0f);
  BOOST_TEST(exp_avg[2].abs().sum().item<float>() == 0.0f);
  BOOST_TEST(exp_avg[1].abs().sum().item<float>() > 0.0f);
}

// loss.decorrelation.group_size: block-wise groups of at most g classes, sizes as equal as
// possible, every class once; 0 means the dimension.
BOOST_AUTO_TEST_CASE(group_size_sets_the_block_size) {
  const auto groups = nsl::gram_schmidt_groups(50, 16, 3, 1, true, 4);
  BOOST_TEST(groups.size() == 13u);  // ceil(50 / 4)
  std::set<int64_t> seen;
  for (const auto& g : groups) {
    BOOST_TEST((g.size() == 3u || g.size() == 4u));
    seen.insert(g.begin(), g.end());
  }
  BOOST_TEST(seen.size() == 50u);
  BOOST_TEST(nsl::gram_schmidt_groups(50, 16, 3, 1, true, 0).size() == 4u);  // ceil(50 / 16)
  BOOST_CHECK_THROW(nsl::gram_schmidt_groups(50, 16, 3, 1, true, 17), nsl::ConfigError);
}

// The normalised strength: on unit centers, the penalty's gradient on center j is
// lambda (s / B) (c_j - t_j) for iter_gs and lambda (s / B) sum_{k != j} (c_j . c_k) c_k for
// inner_product, each projected on the sphere's tangent at c_j (the centers are normalised inside
// the penalty). Reference: those formulas in double, written out per row.
BOOST_AUTO_TEST_CASE(normalised_penalty_gradient_is_one_sample_per_center) {
  torch::manual_seed(5);
  const int64_t classes = 6, dim = 4, batch = 32;
  const double lambda = 0.7, scale = 16.0;
  const torch::Tensor w0 = torch::randn({classes, dim}, torch::kFloat64);
  const torch::Tensor c = w0 / w0.norm(2, 1, true);
  const auto groups = nsl::gram_schmidt_groups(classes, dim, 1, 1, true, 3);
  const torch::Tensor target = nsl::grouped_gram_schmidt(c, groups);
  for (const auto mode : {nsl::DecorrelationMode::kIterGs, nsl::DecorrelationMode::kInnerProduct}) {
    BOOST_TEST_CONTEXT(nsl::choice_name(mode)) {
      const double l = nsl::decorrelation_lambda(mode, lambda, true, scale, batch, classes);
      torch::Tensor w = c.clone().requires_grad_(true);
      const torch::Tensor penalty = mode == nsl::DecorrelationMode::kIterGs
                                        ? nsl::iter_gs_penalty(w, groups, l)
                                        : nsl::inner_product_penalty(w, l);
      penalty.backward();
      for (int64_t j = 0; j < classes; ++j) {
        std::vector<double> g(dim, 0.0);
        for (int64_t i = 0; i < dim; ++i) {
          if (mode == nsl::DecorrelationMode::kIterGs) {
            g[i] = c[j][i].item<double>() - target[j][i].item<double>();
          } else {
            for (int64_t k = 0; k < classes; ++k) {
              if (k == j) continue;
              double dot = 0.0;
              for (int64_t e = 0; e < dim; ++e)
                dot += c[j][e].item<double>() * c[k][e].item<double>();
              g[i] += dot * c[k][i].item<double>();
            }
          }
          g[i] *= lambda * scale / batch;
        }
        double radial = 0.0;
        for (int64_t i = 0; i < dim; ++i) radial += g[i] * c[j][i].item<double>();
        for (int64_t i = 0; i < dim; ++i) {
          BOOST_TEST(w.grad()[j][i].item<double>() == g[i] - radial * c[j][i].item<double>(),
                     boost::test_tools::tolerance(1e-9));
        }
      }
    }
  }
  // Without normalisation lambda is passed through (the v1 strength).
  BOOST_TEST(nsl::decorrelation_lambda(nsl::DecorrelationMode::kIterGs, lambda, false, scale, batch,
                                       classes) == lambda);
}

// Per-epoch center statistics: mean and max |cos| over distinct pairs, hand-worked.
BOOST_AUTO_TEST_CASE(center_cosine_stats_by_hand) {
  // Rows (1, 0), (0, 2), (1, 1): |cos| 0, 1/sqrt2, 1/sqrt2 for the three pairs.
  const auto stats =
      nsl::center_cosine_stats(torch::tensor({{1.0f, 0.0f}, {0.0f, 2.0f}, {1.0f, 1.0f}}));
  BOOST_TEST(stats.mean_abs == 2.0 / std::sqrt(2.0) / 3.0, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(stats.max_abs == 1.0 / std::sqrt(2.0), boost::test_tools::tolerance(1e-6));
  BOOST_TEST(nsl::center_cosine_stats(torch::ones({1, 3})).max_abs == 0.0);
}
