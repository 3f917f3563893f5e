// loss.centers: sharded, on one process: the ranges, the world-size independence of the initial
// centers, of the sampled classes and of the block-wise Gram-Schmidt, the blocked Gram-Schmidt
// against a naive double-precision one, and the sharded losses against the replicated ones
// (values and gradients). Two ranks: tests/mpi/test_mpi_sharded.cpp.
#define BOOST_TEST_MODULE sharded_centers
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "common/error.h"
#include "config/config.h"
#include "dist/local_communicator.h"
#include "loss/center_shards.h"
#include "loss/decorrelation.h"
#include "loss/embedding_loss.h"
#include "loss/gram_schmidt.h"

namespace {

// Naive Gram-Schmidt of rows in order, double precision, with a second projection pass.
torch::Tensor naive_gram_schmidt(const torch::Tensor& rows) {
  const torch::Tensor a = rows.to(torch::kFloat64);
  std::vector<torch::Tensor> basis;
  for (int64_t k = 0; k < a.size(0); ++k) {
    torch::Tensor v = a[k].clone();
    for (int pass = 0; pass < 2; ++pass) {
      for (const auto& q : basis) v = v - (q * v).sum() * q;
    }
    basis.push_back(v / v.norm());
  }
  return torch::stack(basis);
}

nsl::LossConfig loss_config(const std::string& name, nsl::Ranking ranking, double margin) {
  nsl::LossConfig c;
  c.name = name;
  c.ranking = ranking;
  c.margin = margin;
  c.decorrelation.mode = nsl::DecorrelationMode::kNone;
  return c;
}

struct Gradients {
  double objective = 0.0;
  torch::Tensor unit, centers, scale;
};

// One forward and backward of `loss` on (unit, labels) with the given centers and scale.
Gradients run(nsl::EmbeddingLoss& loss, const torch::Tensor& unit0, const torch::Tensor& labels,
              const torch::Tensor& centers, double s) {
  torch::NoGradGuard off;
  loss->centers().copy_(centers);
  torch::AutoGradMode on(true);
  torch::Tensor unit = unit0.clone().requires_grad_(true);
  torch::Tensor scale = torch::tensor(s, torch::kFloat32).requires_grad_(true);
  if (loss->centers().grad().defined()) loss->centers().mutable_grad().zero_();
  const nsl::LossStep step = loss->forward(unit, labels, scale, unit.size(0), 1);
  step.objective.backward();
  // The hinge ranking does not use the scale: no gradient there.
  const torch::Tensor scale_grad =
      scale.grad().defined() ? scale.grad().clone() : torch::zeros_like(scale);
  return {step.objective.item<double>(), unit.grad().clone(), loss->centers().grad().clone(),
          scale_grad};
}

void check_close(const Gradients& got, const Gradients& want, double tol) {
  BOOST_TEST(got.objective == want.objective, boost::test_tools::tolerance(tol));
  BOOST_TEST((got.unit - want.unit).abs().max().item<double>() < tol);
  BOOST_TEST((got.centers - want.centers).abs().max().item<double>() < tol);
  BOOST_TEST((got.scale - want.scale).abs().item<double>() < tol);
}

}  // namespace

BOOST_AUTO_TEST_CASE(ranges_are_whole_blocks_dealt_in_order) {
  // 10 classes in blocks of 4: blocks {0-3}, {4-7}, {8-9}; two ranks get 1 and 2 blocks.
  const auto two = nsl::shard_ranges(10, 4, 2);
  BOOST_TEST(two[0].begin == 0);
  BOOST_TEST(two[0].end == 4);
  BOOST_TEST(two[1].begin == 4);
  BOOST_TEST(two[1].end == 10);
  // Fewer blocks than ranks: a rank may own nothing.
  const auto sparse = nsl::shard_ranges(12, 16, 2);
  BOOST_TEST(sparse[0].rows() == 0);
  BOOST_TEST(sparse[1].begin == 0);
  BOOST_TEST(sparse[1].end == 12);
  for (int world : {1, 2, 3, 8}) {
    const auto r = nsl::shard_ranges(1003, 16, world);
    int64_t next = 0;
    for (const auto& range : r) {
      BOOST_TEST(range.begin == next);
      BOOST_TEST(range.begin % 16 == 0);
      BOOST_TEST(range.classes == 1003);
      next = range.end;
    }
    BOOST_TEST(next == 1003);
  }
}

BOOST_AUTO_TEST_CASE(initial_centers_do_not_depend_on_the_split) {
  const torch::Tensor whole = nsl::initial_center_rows(0, 2500, 8, 7);
  BOOST_TEST(whole.size(0) == 2500);
  BOOST_TEST((whole.norm(2, 1) - 1.0).abs().max().item<double>() < 1e-6);
  for (const auto& [a, b] :
       std::vector<std::pair<int64_t, int64_t>>{{0, 16}, {1000, 2048}, {2047, 2500}}) {
    BOOST_TEST(torch::equal(nsl::initial_center_rows(a, b, 8, 7), whole.slice(0, a, b)));
  }
  BOOST_TEST(!torch::equal(nsl::initial_center_rows(0, 16, 8, 8), whole.slice(0, 0, 16)));
}

BOOST_AUTO_TEST_CASE(sampled_classes_do_not_depend_on_the_split) {
  nsl::ShardRange all;
  all.end = all.classes = 100000;
  const torch::Tensor positives = torch::tensor({3, 99999, 50000, 3}, torch::kInt64);
  const torch::Tensor whole = nsl::sampled_class_rows(all, positives, 0.1, 11, 5);
  for (int world : {2, 3}) {
    std::vector<torch::Tensor> parts;
    for (const auto& r : nsl::shard_ranges(100000, 64, world))
      parts.push_back(nsl::sampled_class_rows(r, positives, 0.1, 11, 5));
    BOOST_TEST(torch::equal(torch::cat(parts), whole));
  }
  const torch::Tensor chosen = whole.index_select(0, positives);
  BOOST_TEST(chosen.all().item<bool>());
  const double fraction = whole.to(torch::kFloat64).mean().item<double>();
  BOOST_TEST(std::abs(fraction - 0.1) < 0.005, fraction);
  // Another step draws other classes; rate 1 draws all.
  BOOST_TEST(!torch::equal(nsl::sampled_class_rows(all, positives, 0.1, 11, 6), whole));
  BOOST_TEST(nsl::sampled_class_rows(all, positives, 1.0, 11, 5).all().item<bool>());
}

BOOST_AUTO_TEST_CASE(blocked_gram_schmidt_matches_a_naive_one) {
  torch::manual_seed(5);
  const torch::Tensor rows = torch::randn({40, 24}, torch::kFloat64);
  const std::vector<int64_t> order = {7, 3, 31, 0, 12, 19, 25, 38, 1, 2, 5, 6, 8, 9, 10, 11};
  const torch::Tensor got = nsl::gram_schmidt(rows, order);
  const torch::Tensor want =
      naive_gram_schmidt(rows.index_select(0, torch::tensor(order, torch::kInt64)));
  for (size_t k = 0; k < order.size(); ++k) {
    BOOST_TEST((got[order[k]] - want[static_cast<int64_t>(k)]).abs().max().item<double>() < 1e-12);
  }
  // Rows outside the order are returned unchanged.
  BOOST_TEST(torch::equal(got[4], rows[4]));
  // A dependent row (row 2 = row 0 + row 1) is replaced by a unit vector orthogonal to the others.
  torch::Tensor dependent = rows.slice(0, 0, 3).clone();
  dependent[2] = dependent[0] + dependent[1];
  const torch::Tensor q = nsl::gram_schmidt(dependent, {0, 1, 2});
  const torch::Tensor gram = torch::mm(q, q.t());
  BOOST_TEST((gram - torch::eye(3, torch::kFloat64)).abs().max().item<double>() < 1e-12);
}

BOOST_AUTO_TEST_CASE(sharded_gram_schmidt_does_not_depend_on_the_split) {
  torch::manual_seed(9);
  const int64_t classes = 70, dim = 16, block = 8;
  const torch::Tensor centers = torch::randn({classes, dim});
  const nsl::EpochGsResult whole = nsl::sharded_epoch_gram_schmidt(centers, 0, block, 1.0, 3, 2);
  BOOST_TEST(whole.groups == 9);
  for (int world : {2, 3, 4}) {
    std::vector<torch::Tensor> parts;
    for (const auto& r : nsl::shard_ranges(classes, block, world)) {
      parts.push_back(nsl::sharded_epoch_gram_schmidt(centers.slice(0, r.begin, r.end), r.begin,
                                                      block, 1.0, 3, 2)
                          .centers);
    }
    BOOST_TEST(torch::equal(torch::cat(parts), whole.centers));
  }
  // alpha 1: every block orthonormal.
  for (int64_t b = 0; b < classes; b += block) {
    const torch::Tensor q =
        whole.centers.slice(0, b, std::min(classes, b + block)).to(torch::kFloat64);
    const torch::Tensor gram = torch::mm(q, q.t());
    BOOST_TEST((gram - torch::eye(q.size(0), torch::kFloat64)).abs().max().item<double>() < 1e-5);
  }
  // Another epoch orders the blocks otherwise.
  BOOST_TEST(!torch::equal(nsl::sharded_epoch_gram_schmidt(centers, 0, block, 1.0, 3, 3).centers,
                           whole.centers));
}

// World size 1: the sharded forms against the replicated losses, values and gradients.
BOOST_AUTO_TEST_CASE(sharded_losses_match_replicated_on_one_rank) {
  torch::manual_seed(21);
  const int64_t classes = 37, dim = 8, batch = 20;
  const torch::Tensor unit = torch::nn::functional::normalize(
      torch::randn({batch, dim}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  const torch::Tensor labels = torch::randint(0, classes, {batch}, torch::kInt64);
  const torch::Tensor centers = torch::randn({classes, dim});
  nsl::LocalCommunicator comm;
  struct Case {
    const char* name;
    nsl::Ranking ranking;
    double margin;
  };
  for (const Case& c :
       {Case{"dgcrl", nsl::Ranking::kSoftmax, 0.1}, Case{"dgcrl", nsl::Ranking::kHinge, 0.2},
        Case{"normalized_softmax", nsl::Ranking::kSoftmax, 0.0}}) {
    BOOST_TEST_CONTEXT(c.name << " ranking " << static_cast<int>(c.ranking)) {
      nsl::LossConfig config = loss_config(c.name, c.ranking, c.margin);
      nsl::EmbeddingLoss replicated(config, classes, dim);
      nsl::CenterSharding sharding{&comm, nsl::shard_range(classes, dim, 1, 0), 1, 1.0};
      nsl::EmbeddingLoss sharded(config, classes, dim, sharding);
      const Gradients want = run(replicated, unit, labels, centers, 16.0);
      const Gradients got = run(sharded, unit, labels, centers, 16.0);
      check_close(got, want, 1e-5);
    }
  }
}

// loss.sample_rate: the loss over the sampled classes equals the replicated loss over those
// classes alone, and only sampled rows receive gradient.
BOOST_AUTO_TEST_CASE(sampled_loss_is_the_loss_over_the_sampled_classes) {
  torch::manual_seed(22);
  const int64_t classes = 200, dim = 8, batch = 16;
  const torch::Tensor unit = torch::nn::functional::normalize(
      torch::randn({batch, dim}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  const torch::Tensor labels = torch::randint(0, classes, {batch}, torch::kInt64);
  const torch::Tensor centers = torch::randn({classes, dim});
  nsl::LocalCommunicator comm;
  nsl::LossConfig config = loss_config("dgcrl", nsl::Ranking::kSoftmax, 0.1);
  nsl::CenterSharding sharding{&comm, nsl::shard_range(classes, dim, 1, 0), 4, 0.25};
  nsl::EmbeddingLoss sharded(config, classes, dim, sharding);
  sharded->set_step(9);
  const Gradients got = run(sharded, unit, labels, centers, 16.0);
  const torch::Tensor used = sharded->rows_to_update(false);
  BOOST_TEST_REQUIRE(used.defined());
  BOOST_TEST(torch::equal(used, nsl::sampled_class_rows(sharding.range, labels, 0.25, 4, 9)));
  const torch::Tensor rows = used.nonzero().squeeze(1);
  BOOST_TEST(rows.numel() < classes / 2);
  // The reference: the replicated loss on the sampled classes, labels renumbered.
  torch::Tensor position = torch::full({classes}, int64_t{-1}, torch::kInt64);
  position.index_put_({rows}, torch::arange(rows.numel(), torch::kInt64));
  nsl::EmbeddingLoss replicated(config, rows.numel(), dim);
  const Gradients want =
      run(replicated, unit, position.index({labels}), centers.index_select(0, rows), 16.0);
  BOOST_TEST(got.objective == want.objective, boost::test_tools::tolerance(1e-5));
  BOOST_TEST((got.unit - want.unit).abs().max().item<double>() < 1e-5);
  BOOST_TEST((got.centers.index_select(0, rows) - want.centers).abs().max().item<double>() < 1e-5);
  const torch::Tensor unused = (~used).nonzero().squeeze(1);
  BOOST_TEST(got.centers.index_select(0, unused).abs().max().item<double>() == 0.0);
}

BOOST_AUTO_TEST_CASE(sharded_config_is_checked) {
  const std::string base = "data: {path: x}\n";
  BOOST_CHECK_NO_THROW(nsl::parse_config(base, {"loss.centers=sharded"}));
  BOOST_CHECK_NO_THROW(
      nsl::parse_config(base, {"loss.centers=sharded", "loss.name=normalized_softmax"}));
  auto fails = [&](std::vector<std::string> overrides, const std::string& words) {
    BOOST_TEST_CONTEXT(overrides.front()) {
      try {
        nsl::parse_config(base, overrides);
        BOOST_TEST(false, "accepted");
      } catch (const nsl::ConfigError& e) {
        BOOST_TEST(std::string(e.what()).find(words) != std::string::npos, e.what());
      }
    }
  };
  fails({"loss.centers=sharded", "loss.name=proxy_nca"}, "loss.centers");
  fails({"loss.centers=sharded", "loss.decorrelation.mode=iter_gs"}, "epoch_gs or none");
  fails({"loss.sample_rate=0.5"}, "needs loss.centers: sharded");
  fails({"loss.centers=sharded", "loss.sample_rate=0"}, "(0, 1]");
  fails({"loss.centers=everywhere"}, "replicated | sharded");
}
