#define BOOST_TEST_MODULE retrieval
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "common/error.h"
#include "eval/evaluator.h"
#include "eval/nearest.h"
#include "support/unit_vectors.h"

namespace {

using nsl::test::angles;
using nsl::test::as_tensor;

// Independent reference: for every query, a double-precision double loop over the gallery, the
// gallery sorted by (-similarity, index), then the definitions of METHOD.md section 6 read off the
// sorted list.
struct Naive {
  std::vector<double> recall;
  double map_at_r = 0.0;
  double r_precision = 0.0;
  int64_t queries = 0;
  int64_t lone = 0;
  std::vector<std::vector<int64_t>> order;  // every query's sorted gallery
};

Naive naive(const torch::Tensor& q, const std::vector<int64_t>& qy, const torch::Tensor& g,
            const std::vector<int64_t>& gy, bool shared, const std::vector<int64_t>& ks) {
  const torch::Tensor a = q.to(torch::kFloat64).contiguous();
  const torch::Tensor b = g.to(torch::kFloat64).contiguous();
  const int64_t n = a.size(0), m = b.size(0), d = a.size(1);
  const double* pa = a.data_ptr<double>();
  const double* pb = b.data_ptr<double>();
  Naive out;
  out.recall.assign(ks.size(), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::pair<double, int64_t>> list;
    for (int64_t j = 0; j < m; ++j) {
      if (shared && j == i) continue;
      double s = 0.0;
      for (int64_t t = 0; t < d; ++t) s += pa[i * d + t] * pb[j * d + t];
      list.emplace_back(-s, j);
    }
    std::sort(list.begin(), list.end());
    std::vector<int64_t> ranked;
    for (const auto& e : list) ranked.push_back(e.second);
    out.order.push_back(ranked);
    int64_t r = 0;
    for (int64_t j : ranked) r += gy[j] == qy[i] ? 1 : 0;
    if (r == 0) {
      ++out.lone;
      continue;
    }
    ++out.queries;
    for (size_t k = 0; k < ks.size(); ++k) {
      for (int64_t pos = 0; pos < std::min<int64_t>(ks[k], ranked.size()); ++pos) {
        if (gy[ranked[pos]] == qy[i]) {
          out.recall[k] += 1.0;
          break;
        }
      }
    }
    double hits = 0.0, ap = 0.0;
    for (int64_t pos = 0; pos < r; ++pos) {
      if (gy[ranked[pos]] != qy[i]) continue;
      hits += 1.0;
      ap += hits / static_cast<double>(pos + 1);
    }
    out.map_at_r += ap / static_cast<double>(r);
    out.r_precision += hits / static_cast<double>(r);
  }
  for (double& h : out.recall) h /= static_cast<double>(std::max<int64_t>(1, out.queries));
  out.map_at_r /= static_cast<double>(std::max<int64_t>(1, out.queries));
  out.r_precision /= static_cast<double>(std::max<int64_t>(1, out.queries));
  return out;
}

nsl::EvalOptions options(std::vector<int64_t> ks, int64_t chunk_elements = 1 << 24) {
  nsl::EvalOptions o;
  o.recall_k = std::move(ks);
  o.max_chunk_elements = chunk_elements;
  o.nmi = false;
  return o;
}

void check_equal(const nsl::RetrievalMetrics& got, const Naive& want, double tol) {
  BOOST_TEST(got.queries == want.queries);
  BOOST_TEST(got.lone_queries == want.lone);
  for (size_t k = 0; k < want.recall.size(); ++k) BOOST_TEST(got.recall[k] == want.recall[k]);
  BOOST_TEST(std::abs(got.map_at_r - want.map_at_r) <= tol);
  BOOST_TEST(std::abs(got.r_precision - want.r_precision) <= tol);
}

// Random unit rows rounded to multiples of 1/4: many exact ties, and every product exact.
torch::Tensor tied_rows(int64_t n, int64_t d, torch::Dtype dtype) {
  auto e = torch::randn({n, d}, torch::kFloat64);
  e = torch::round(e / e.norm(2, 1, true) * 4) / 4;
  return e.to(dtype);
}

std::vector<int64_t> random_labels(int64_t n, int64_t classes) {
  const auto t = torch::randint(0, classes, {n}, torch::kInt64);
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + n);
}

}  // namespace

BOOST_AUTO_TEST_CASE(hand_worked_ties_broken_by_index) {
  // Four samples on the unit circle; labels 0 1 0 1.
  // Query 0 (class 0): 3 (sim 1, c1), then 1 and 2 tie at 0 -> 1 (c1) first, 2 (c0): hit at rank 3.
  // Query 1 (class 1): 0 (0), 3 (0) tie -> 0 first, then 3 (c1): hit at rank 2.
  // Query 2 (class 0): 0 (0), 3 (0) tie -> 0 (c0) first: hit at rank 1.
  // Query 3 (class 1): 0 (sim 1, c0), then 1, 2 tie -> 1 (c1): hit at rank 2.
  // Every R = 1, so AP@R = R-Precision = [hit at rank 1] = 1/4.
  const auto e = torch::tensor({{1.0F, 0.0F}, {0.0F, 1.0F}, {0.0F, -1.0F}, {1.0F, 0.0F}});
  const auto y = as_tensor({0, 1, 0, 1});
  const auto nn = nsl::nearest_neighbours(e, 0, 4, 3);
  BOOST_TEST(nn.indices[0][0].item<int64_t>() == 3);
  BOOST_TEST(nn.indices[0][1].item<int64_t>() == 1);
  BOOST_TEST(nn.indices[0][2].item<int64_t>() == 2);
  const auto r = nsl::evaluate_retrieval({e, y}, nullptr, options({1, 2, 3}));
  BOOST_TEST(r.recall[0] == 0.25);
  BOOST_TEST(r.recall[1] == 0.75);
  BOOST_TEST(r.recall[2] == 1.0);
  BOOST_TEST(r.queries == 4);
  BOOST_TEST(r.map_at_r == 0.25);
  BOOST_TEST(r.r_precision == 0.25);
}

BOOST_AUTO_TEST_CASE(hand_worked_five_points) {
  // Unit vectors at 0, 10, 25, 32, 70 degrees; labels A A A B B.
  // q0 (R=2, {1,2}): ranked 1,2,3,4 -> rel 1,1 -> AP = 1, RP = 1
  // q1 (R=2, {0,2}): ranked 0(10) 2(15) 3(22) 4(60) -> AP = 1, RP = 1
  // q2 (R=2, {0,1}): ranked 3(7) 1(15) 0(25) 4(45) -> rel 0,1 -> AP = (1/2)/2 = 0.25, RP = 0.5
  // q3 (R=1, {4}):   ranked 2(7) 1(22) 0(32) 4(38) -> AP = 0, RP = 0
  // q4 (R=1, {3}):   ranked 3(38) 2(45) ...        -> AP = 1, RP = 1
  // MAP@R = 3.25/5 = 0.65; R-Precision = 3.5/5 = 0.7. First neighbours: q0 1 (A), q1 0 (A),
  // q2 3 (B), q3 2 (A), q4 3 (B): Recall@1 = 3/5; within two, q2 finds 1: Recall@2 = 4/5.
  const auto got = nsl::evaluate_retrieval(
      {angles({0, 10, 25, 32, 70}), as_tensor({0, 0, 0, 1, 1})}, nullptr, options({1, 2}, 10));
  BOOST_TEST(got.queries == 5);
  BOOST_TEST(std::abs(got.map_at_r - 0.65) < 1e-12);
  BOOST_TEST(std::abs(got.r_precision - 0.7) < 1e-12);
  BOOST_TEST(got.recall[0] == 0.6);
  BOOST_TEST(got.recall[1] == 0.8);
}

BOOST_AUTO_TEST_CASE(matches_naive_reference_with_ties_for_every_chunk_size) {
  torch::manual_seed(3);
  for (const auto dtype : {torch::kFloat64, torch::kFloat32}) {
    const int64_t n = 97;
    const torch::Tensor e = tied_rows(n, 6, dtype);
    std::vector<int64_t> y = random_labels(n, 12);
    y[5] = 1000;  // a lone query
    const std::vector<int64_t> ks = {1, 2, 4, 8, 16, 200};
    const Naive want = naive(e, y, e, y, true, ks);
    BOOST_TEST(want.lone == 1);
    for (int64_t chunk : {n, n * 5, n * 96, int64_t{1} << 20}) {
      check_equal(nsl::evaluate_retrieval({e, as_tensor(y)}, nullptr, options(ks, chunk)), want,
                  1e-12);
    }
    // The neighbour lists equal the naive sort, ties and all.
    const auto nn = nsl::nearest_neighbours(e, 10, 20, 30);
    for (int64_t i = 0; i < 10; ++i) {
      for (int64_t k = 0; k < 30; ++k) {
        BOOST_TEST(nn.indices[i][k].item<int64_t>() ==
                   want.order[static_cast<size_t>(10 + i)][static_cast<size_t>(k)]);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(matches_naive_on_continuous_data) {
  torch::manual_seed(11);
  const int64_t n = 300;
  auto e = torch::randn({n, 16});
  e = e / e.norm(2, 1, true);
  const std::vector<int64_t> y = random_labels(n, 40);
  const std::vector<int64_t> ks = {1, 2, 4, 8};
  check_equal(nsl::evaluate_retrieval({e, as_tensor(y)}, nullptr, options(ks, 7 * n)),
              naive(e, y, e, y, true, ks), 1e-12);
}

BOOST_AUTO_TEST_CASE(query_against_gallery_matches_naive) {
  torch::manual_seed(5);
  const torch::Tensor q = tied_rows(40, 5, torch::kFloat32);
  const torch::Tensor g = tied_rows(70, 5, torch::kFloat32);
  std::vector<int64_t> qy = random_labels(40, 9);
  const std::vector<int64_t> gy = random_labels(70, 8);  // class 8 is never in the gallery
  qy[0] = 8;
  const std::vector<int64_t> ks = {1, 10, 20, 30, 40, 50, 100};
  const Naive want = naive(q, qy, g, gy, false, ks);
  BOOST_TEST(want.lone >= 1);
  const nsl::EvalSet gallery{g, as_tensor(gy)};
  for (int64_t chunk : {int64_t{70}, int64_t{70 * 3}, int64_t{1} << 20}) {
    const auto got = nsl::evaluate_retrieval({q, as_tensor(qy)}, &gallery, options(ks, chunk));
    check_equal(got, want, 1e-12);
    BOOST_TEST(got.gallery == 70);
  }
  const auto nn = nsl::nearest_in_gallery(q, g, 70, 70 * 3);
  for (int64_t i = 0; i < 40; ++i) {
    for (int64_t k = 0; k < 70; ++k) {
      BOOST_TEST(nn.indices[i][k].item<int64_t>() ==
                 want.order[static_cast<size_t>(i)][static_cast<size_t>(k)]);
    }
  }
}

BOOST_AUTO_TEST_CASE(lone_queries_excluded_and_counted) {
  const auto r =
      nsl::evaluate_retrieval({angles({0, 10, 90}), as_tensor({5, 5, 9})}, nullptr, options({1}));
  BOOST_TEST(r.lone_queries == 1);
  BOOST_TEST(r.queries == 2);
  BOOST_TEST(r.recall[0] == 1.0);
  BOOST_TEST(r.map_at_r == 1.0);
  BOOST_TEST(r.r_precision == 1.0);
}

BOOST_AUTO_TEST_CASE(k_larger_than_gallery) {
  // 0's nearest is 1 (sim 0 > -1), 2's nearest is 1 too: R@1 = 0; every K >= 2 finds the partner.
  const auto e = torch::tensor({{1.0F, 0.0F}, {0.0F, 1.0F}, {-1.0F, 0.0F}});
  const auto r = nsl::evaluate_retrieval({e, as_tensor({0, 1, 0})}, nullptr, options({1, 100}));
  BOOST_TEST(r.recall[0] == 0.0);
  BOOST_TEST(r.recall[1] == 1.0);
  BOOST_TEST(r.lone_queries == 1);
}

BOOST_AUTO_TEST_CASE(nan_embedding_is_a_clear_error) {
  auto e = angles({0, 10, 20});
  e[1][0] = std::numeric_limits<float>::quiet_NaN();
  try {
    nsl::evaluate_retrieval({e, as_tensor({0, 0, 1})}, nullptr, options({1}));
    BOOST_FAIL("no error");
  } catch (const nsl::DataError& ex) {
    BOOST_TEST(std::string(ex.what()).find("NaN") != std::string::npos);
  }
  BOOST_CHECK_THROW(
      nsl::evaluate_retrieval({angles({0, 1}), as_tensor({0})}, nullptr, options({1})),
      std::invalid_argument);
  BOOST_CHECK_THROW(
      nsl::evaluate_retrieval({angles({0, 1}), as_tensor({0, 0})}, nullptr, options({0})),
      std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(nmi_reported_when_asked) {
  // Two tight, far-apart clusters that are the two classes: k-means recovers them, NMI = 1.
  const auto e = angles({0, 1, 2, 180, 181, 182});
  auto o = options({1});
  o.nmi = true;
  const auto r = nsl::evaluate_retrieval({e, as_tensor({0, 0, 0, 1, 1, 1})}, nullptr, o);
  BOOST_TEST(std::abs(r.nmi - 1.0) < 1e-12);
  BOOST_TEST(std::isnan(
      nsl::evaluate_retrieval({e, as_tensor({0, 0, 0, 1, 1, 1})}, nullptr, options({1})).nmi));
}

BOOST_AUTO_TEST_CASE(dataset_k_grids) {
  BOOST_TEST(nsl::default_recall_k("sop") == (std::vector<int64_t>{1, 10, 100, 1000}));
  BOOST_TEST(nsl::default_recall_k("inshop") == (std::vector<int64_t>{1, 10, 20, 30, 40, 50}));
  BOOST_TEST(nsl::default_recall_k("cub200") == (std::vector<int64_t>{1, 2, 4, 8}));
}
