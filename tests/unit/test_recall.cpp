#define BOOST_TEST_MODULE recall
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <limits>
#include <numeric>

#include "common/error.h"
#include "eval/recall.h"

namespace {

// Naive double loop: sort the gallery by (similarity descending, index ascending).
std::vector<double> naive_recall(const torch::Tensor& e, const torch::Tensor& labels,
                                 const std::vector<int64_t>& ks) {
  const auto x = e.to(torch::kFloat64);
  const int64_t n = x.size(0);
  std::vector<double> hits(ks.size(), 0.0);
  int64_t queries = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::pair<double, int64_t>> g;
    bool partner = false;
    for (int64_t j = 0; j < n; ++j) {
      if (j == i) continue;
      g.emplace_back(-(x[i] * x[j]).sum().item<double>(), j);
      partner |= labels[j].item<int64_t>() == labels[i].item<int64_t>();
    }
    if (!partner) continue;
    ++queries;
    std::sort(g.begin(), g.end());
    for (size_t k = 0; k < ks.size(); ++k) {
      for (int64_t r = 0; r < std::min<int64_t>(ks[k], n - 1); ++r) {
        if (labels[g[r].second].item<int64_t>() == labels[i].item<int64_t>()) {
          hits[k] += 1;
          break;
        }
      }
    }
  }
  for (double& h : hits) h /= static_cast<double>(queries);
  return hits;
}

}  // namespace

BOOST_AUTO_TEST_CASE(hand_worked_ties_broken_by_index) {
  // Four samples on the unit circle. Sample 0 sees samples 1 and 2 at the same similarity:
  // the tie goes to index 1 (class 1), so 0's first neighbour is wrong at K=1.
  const auto e = torch::tensor({{1.0, 0.0}, {0.0, 1.0}, {0.0, -1.0}, {1.0, 0.0}}, torch::kFloat64);
  const auto y = torch::tensor({0, 1, 0, 1}, torch::kInt64);
  // Neighbours (self excluded): 0 -> 3 (sim 1), then 1, 2 tie (0) -> 1 first.
  const auto nn = nsl::nearest_neighbours(e, 0, 4, 3);
  BOOST_TEST(nn[0][0].item<int64_t>() == 3);
  BOOST_TEST(nn[0][1].item<int64_t>() == 1);
  BOOST_TEST(nn[0][2].item<int64_t>() == 2);
  const auto r = nsl::recall_at_k(e, y, {1, 2, 3});
  // Query 0 (class 0): 3 (c1), 1 (c1), 2 (c0) -> hit at rank 3.
  // Query 1 (class 1): sims 0->0, 2->-1, 3->0: order 0, 3, 2 -> hit at rank 2.
  // Query 2 (class 0): sims 0->0, 1->-1, 3->0: order 0, 3, 1 -> hit at rank 1.
  // Query 3 (class 1): 0 (sim 1, c0), then 1, 2 tie -> 1 (c1): hit at rank 2.
  BOOST_TEST(r.recall[0] == 0.25);
  BOOST_TEST(r.recall[1] == 0.75);
  BOOST_TEST(r.recall[2] == 1.0);
  BOOST_TEST(r.queries == 4);
}

BOOST_AUTO_TEST_CASE(matches_naive_on_random_data_with_chunks) {
  torch::manual_seed(1);
  auto e = torch::randn({97, 6}, torch::kFloat64);
  e = e / e.norm(2, 1, true);
  // Coarse rounding creates many exact ties.
  e = torch::round(e * 4) / 4;
  const auto y = torch::randint(0, 12, {97}, torch::kInt64);
  const std::vector<int64_t> ks = {1, 2, 4, 8, 16};
  const auto expected = naive_recall(e, y, ks);
  for (int64_t chunk_elems : {97, 97 * 5, 1 << 20}) {
    const auto r = nsl::recall_at_k(e, y, ks, chunk_elems);
    for (size_t i = 0; i < ks.size(); ++i) BOOST_TEST(r.recall[i] == expected[i]);
  }
}

BOOST_AUTO_TEST_CASE(lone_queries_excluded_and_counted) {
  const auto e = torch::tensor({{1.0, 0.0}, {0.9, 0.1}, {0.0, 1.0}}, torch::kFloat64);
  const auto y = torch::tensor({0, 0, 7}, torch::kInt64);
  const auto r = nsl::recall_at_k(e, y, {1});
  BOOST_TEST(r.lone_queries == 1);
  BOOST_TEST(r.queries == 2);
  BOOST_TEST(r.recall[0] == 1.0);
}

BOOST_AUTO_TEST_CASE(k_larger_than_gallery) {
  const auto e = torch::tensor({{1.0, 0.0}, {0.0, 1.0}, {-1.0, 0.0}}, torch::kFloat64);
  const auto y = torch::tensor({0, 1, 0}, torch::kInt64);
  const auto r = nsl::recall_at_k(e, y, {1, 100});
  BOOST_TEST(r.recall[1] == 1.0);
  BOOST_TEST(r.recall[0] == 0.0);  // 0's nearest is 1 (sim 0 > -1); 2's nearest is 1 too
}

BOOST_AUTO_TEST_CASE(nan_embedding_is_a_clear_error) {
  const auto e = torch::tensor({{1.0, 0.0}, {std::numeric_limits<double>::quiet_NaN(), 0.0}});
  try {
    nsl::recall_at_k(e, torch::tensor({0, 0}, torch::kInt64), {1});
    BOOST_FAIL("no error");
  } catch (const nsl::Error& ex) {
    BOOST_TEST(std::string(ex.what()).find("NaN") != std::string::npos);
  }
}
