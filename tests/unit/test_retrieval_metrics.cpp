#define BOOST_TEST_MODULE retrieval_metrics
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "common/error.h"
#include "eval/retrieval_metrics.h"

namespace {

// Naive O(N^2) reference in double: each query's gallery sorted by (-similarity, index).
nsl::MapAtRResult naive_map_at_r(const torch::Tensor& e, const std::vector<int64_t>& y) {
  const torch::Tensor x = e.to(torch::kFloat64).contiguous();
  const auto* p = x.data_ptr<double>();
  const int64_t n = x.size(0);
  const int64_t d = x.size(1);
  nsl::MapAtRResult out;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::pair<double, int64_t>> g;
    int64_t r = 0;
    for (int64_t j = 0; j < n; ++j) {
      if (j == i) continue;
      double s = 0.0;
      for (int64_t t = 0; t < d; ++t) s += p[i * d + t] * p[j * d + t];
      g.emplace_back(-s, j);
      r += y[j] == y[i] ? 1 : 0;
    }
    if (r == 0) {
      ++out.lone_queries;
      continue;
    }
    ++out.queries;
    std::stable_sort(g.begin(), g.end());
    double hits = 0.0;
    double ap = 0.0;
    for (int64_t k = 0; k < r; ++k) {
      if (y[g[k].second] != y[i]) continue;
      hits += 1.0;
      ap += hits / static_cast<double>(k + 1);
    }
    out.map_at_r += ap / static_cast<double>(r);
    out.r_precision += hits / static_cast<double>(r);
  }
  out.map_at_r /= static_cast<double>(out.queries);
  out.r_precision /= static_cast<double>(out.queries);
  return out;
}

torch::Tensor unit_rows(torch::Tensor x) { return x / x.norm(2, 1, true); }

torch::Tensor angles(const std::vector<double>& degrees) {
  torch::Tensor out = torch::empty({static_cast<int64_t>(degrees.size()), 2}, torch::kFloat32);
  for (size_t i = 0; i < degrees.size(); ++i) {
    const double a = degrees[i] * M_PI / 180.0;
    out[static_cast<int64_t>(i)][0] = std::cos(a);
    out[static_cast<int64_t>(i)][1] = std::sin(a);
  }
  return out;
}

torch::Tensor as_tensor(const std::vector<int64_t>& y) { return torch::tensor(y, torch::kInt64); }

}  // namespace

BOOST_AUTO_TEST_CASE(matches_naive_reference_for_every_chunk_size) {
  torch::manual_seed(7);
  const int64_t n = 41;
  const torch::Tensor e = unit_rows(torch::randn({n, 6}));
  std::vector<int64_t> y;
  for (int64_t i = 0; i < n - 1; ++i) y.push_back(i % 7);
  y.push_back(100);  // a lone query
  const auto ref = naive_map_at_r(e, y);
  BOOST_TEST(ref.queries == n - 1);
  BOOST_TEST(ref.lone_queries == 1);
  for (int64_t chunk : {int64_t{1}, int64_t{7}, n, int64_t{1000}}) {
    const auto got = nsl::map_at_r(e, as_tensor(y), chunk);
    BOOST_TEST(got.queries == ref.queries);
    BOOST_TEST(got.lone_queries == ref.lone_queries);
    BOOST_TEST(std::abs(got.map_at_r - ref.map_at_r) < 1e-9);
    BOOST_TEST(std::abs(got.r_precision - ref.r_precision) < 1e-9);
  }
}

BOOST_AUTO_TEST_CASE(hand_worked_five_points) {
  // Unit vectors at 0, 10, 25, 32, 70 degrees; labels A A A B B.
  // q0 (R=2, {1,2}): ranked 1,2,3,4 -> rel 1,1 -> AP = (1 + 1)/2 = 1,     RP = 1
  // q1 (R=2, {0,2}): ranked 0(10) 2(15) 3(22) 4(60) -> rel 1,1 -> AP = 1, RP = 1
  // q2 (R=2, {0,1}): ranked 3(7) 1(15) 0(25) 4(45) -> rel 0,1 -> AP = (0 + 1/2)/2 = 0.25, RP = 0.5
  // q3 (R=1, {4}):   ranked 2(7) 1(22) 0(32) 4(38) -> rel 0 -> AP = 0,     RP = 0
  // q4 (R=1, {3}):   ranked 3(38) 2(45) ...        -> rel 1 -> AP = 1,     RP = 1
  // MAP@R = (1 + 1 + 0.25 + 0 + 1)/5 = 0.65; R-Precision = (1 + 1 + 0.5 + 0 + 1)/5 = 0.7.
  const torch::Tensor e = angles({0, 10, 25, 32, 70});
  const auto got = nsl::map_at_r(e, as_tensor({0, 0, 0, 1, 1}), 2);
  BOOST_TEST(got.queries == 5);
  BOOST_TEST(got.lone_queries == 0);
  BOOST_TEST(std::abs(got.map_at_r - 0.65) < 1e-12);
  BOOST_TEST(std::abs(got.r_precision - 0.7) < 1e-12);
}

BOOST_AUTO_TEST_CASE(ties_broken_by_lower_index) {
  // x0 = (1,0); x1 = x2 = x3 = (0,1); labels 0 0 1 1, every R = 1.
  // q0: 1,2,3 tie -> 1 first (hit). q1: 2,3 tie -> 2 (miss). q2: 1,3 tie -> 1 (miss).
  // q3: 1,2 tie -> 1 (miss). MAP@R = RP = 1/4 (higher index first would give 1/2).
  const torch::Tensor e =
      torch::tensor({1.0F, 0.0F, 0.0F, 1.0F, 0.0F, 1.0F, 0.0F, 1.0F}).view({4, 2});
  const auto y = as_tensor({0, 0, 1, 1});
  for (int64_t chunk : {int64_t{1}, int64_t{3}, int64_t{4}}) {
    const auto got = nsl::map_at_r(e, y, chunk);
    BOOST_TEST(got.map_at_r == 0.25);
    BOOST_TEST(got.r_precision == 0.25);
  }
}

BOOST_AUTO_TEST_CASE(lone_query_excluded_and_counted) {
  // q0 (R=1): ranked 1 (10 deg) -> hit; q1 likewise; q2 is lone.
  const auto got = nsl::map_at_r(angles({0, 10, 90}), as_tensor({5, 5, 9}));
  BOOST_TEST(got.queries == 2);
  BOOST_TEST(got.lone_queries == 1);
  BOOST_TEST(got.map_at_r == 1.0);
  BOOST_TEST(got.r_precision == 1.0);
}

BOOST_AUTO_TEST_CASE(non_finite_and_bad_shapes_throw) {
  torch::Tensor e = angles({0, 10, 20});
  e[1][0] = std::numeric_limits<float>::quiet_NaN();
  const auto y = as_tensor({0, 0, 1});
  BOOST_CHECK_THROW(nsl::map_at_r(e, y), nsl::DataError);
  BOOST_CHECK_THROW(nsl::nmi_kmeans(e, y, 1), nsl::DataError);
  e[1][0] = std::numeric_limits<float>::infinity();
  BOOST_CHECK_THROW(nsl::map_at_r(e, y), nsl::DataError);
  BOOST_CHECK_THROW(nsl::map_at_r(angles({0, 10}), y), std::invalid_argument);
  BOOST_CHECK_THROW(nsl::nmi_kmeans(angles({0, 10}), y, 1), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(nmi_from_assignments_by_hand) {
  BOOST_TEST(std::abs(nsl::normalized_mutual_information({0, 0, 1, 1}, {0, 1, 0, 1})) < 1e-12);
  BOOST_TEST(std::abs(nsl::normalized_mutual_information({0, 0, 1, 1}, {1, 1, 0, 0}) - 1.0) <
             1e-12);
  // a = 0 0 0 1, b = 0 0 1 1: joint (0,0)=2, (0,1)=1, (1,1)=1 of 4.
  // I = 1/2 ln(4/3) + 1/4 ln(2/3) + 1/4 ln 2 ~= 0.2157616
  // H(a) = 3/4 ln(4/3) + 1/4 ln 4 ~= 0.5623351, H(b) = ln 2 ~= 0.693147
  // NMI = 2 I / (H(a) + H(b)) ~= 0.343711
  const double mi = 0.5 * std::log(4.0 / 3.0) + 0.25 * std::log(2.0 / 3.0) + 0.25 * std::log(2.0);
  const double ha = 0.75 * std::log(4.0 / 3.0) + 0.25 * std::log(4.0);
  const double expected = 2.0 * mi / (ha + std::log(2.0));
  const double got = nsl::normalized_mutual_information({0, 0, 0, 1}, {0, 0, 1, 1});
  BOOST_TEST(std::abs(got - expected) < 1e-12);
  BOOST_TEST(std::abs(got - 0.343711) < 1e-6);
  BOOST_CHECK_THROW(nsl::normalized_mutual_information({0}, {0, 1}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(nmi_kmeans_perfect_on_separated_clusters) {
  torch::manual_seed(3);
  const int64_t k = 4;
  const int64_t per = 10;
  const torch::Tensor centres = torch::eye(k) * 10.0;
  std::vector<torch::Tensor> rows;
  std::vector<int64_t> y;
  for (int64_t c = 0; c < k; ++c) {
    rows.push_back(centres[c] + 0.01 * torch::randn({per, k}));
    for (int64_t i = 0; i < per; ++i) y.push_back(c * 3 + 1);  // labels need not be dense
  }
  const torch::Tensor e = unit_rows(torch::cat(rows));
  for (uint64_t seed : {1ULL, 2ULL, 99ULL}) {
    BOOST_TEST(std::abs(nsl::nmi_kmeans(e, as_tensor(y), seed) - 1.0) < 1e-12);
  }
}

BOOST_AUTO_TEST_CASE(nmi_kmeans_deterministic_for_a_seed) {
  torch::manual_seed(11);
  const torch::Tensor e = unit_rows(torch::randn({60, 5}));
  std::vector<int64_t> y;
  for (int64_t i = 0; i < 60; ++i) y.push_back(i % 6);
  const double a = nsl::nmi_kmeans(e, as_tensor(y), 42);
  const double b = nsl::nmi_kmeans(e, as_tensor(y), 42);
  BOOST_TEST(a == b);
  BOOST_TEST(a >= 0.0);
  BOOST_TEST(a <= 1.0);
}

BOOST_AUTO_TEST_CASE(nmi_kmeans_reseeds_empty_clusters) {
  // Only two distinct points for three labels: k-means++ must repeat a centre, leaving a cluster
  // empty that is then re-seeded; the result stays a valid, deterministic NMI.
  const torch::Tensor e = angles({0, 0, 0, 90, 90, 90});
  const auto y = as_tensor({0, 1, 2, 0, 1, 2});
  const double a = nsl::nmi_kmeans(e, y, 5);
  BOOST_TEST(a >= 0.0);
  BOOST_TEST(a <= 1.0);
  BOOST_TEST(a == nsl::nmi_kmeans(e, y, 5));
}
