#define BOOST_TEST_MODULE thread_independence
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <array>
#include <atomic>
#include <functional>
#include <stdexcept>
#include <vector>

#include "common/fixed_split.h"
#include "config/config.h"
#include "eval/embed.h"
#include "eval/evaluator.h"
#include "model/embedding_net.h"

// Evaluation must give the same bits with 1 and 2 intra-op threads. ctest runs this program with
// OPENBLAS_CORETYPE=Haswell where the CPU has AVX2 and FMA: there OpenBLAS rounds a float32
// product's rows by where they fall in a thread's part, so plain torch::mm differs between 1 and 2
// threads (reported below as a message; it depends on the machine).

namespace {

struct ThreadCount {
  explicit ThreadCount(int n) : before(torch::get_num_threads()) { torch::set_num_threads(n); }
  ~ThreadCount() { torch::set_num_threads(before); }
  int before;
};

template <typename F>
auto with_threads(int n, F&& f) {
  ThreadCount guard(n);
  return f();
}

torch::Tensor unit_rows(torch::Tensor x) { return x / x.norm(2, 1, true); }

// Rows near their class's direction: a realistic mix of near and far neighbours.
torch::Tensor clustered(int64_t n, int64_t d, int64_t classes, torch::Tensor* labels) {
  torch::manual_seed(11);
  const torch::Tensor centres = torch::randn({classes, d});
  *labels = torch::arange(n, torch::kInt64).remainder(classes);
  return unit_rows(centres.index_select(0, *labels) + 0.7 * torch::randn({n, d}));
}

}  // namespace

BOOST_AUTO_TEST_CASE(for_each_piece_runs_every_piece_once_and_rethrows) {
  for (int threads : {1, 2}) {
    ThreadCount guard(threads);
    for (int64_t pieces : {0, 1, 2, 7}) {
      std::vector<std::atomic<int>> calls(static_cast<size_t>(pieces));
      nsl::for_each_piece(pieces, [&](int64_t p) { ++calls[static_cast<size_t>(p)]; });
      for (auto& c : calls) BOOST_TEST(c.load() == 1);
    }
    BOOST_CHECK_THROW(nsl::for_each_piece(5,
                                          [](int64_t p) {
                                            if (p == 3) throw std::runtime_error("piece 3");
                                          }),
                      std::runtime_error);
  }
}

// Against a float64 product, across tile boundaries in both directions.
BOOST_AUTO_TEST_CASE(fixed_product_matches_float64) {
  torch::manual_seed(3);
  const torch::Tensor a = torch::randn({nsl::kFixedTileRows + 37, 40});
  const torch::Tensor b = torch::randn({nsl::kFixedTileColumns + 5, 40});
  const torch::Tensor ref = torch::mm(a.to(torch::kFloat64), b.to(torch::kFloat64).t());
  for (int threads : {1, 2}) {
    const torch::Tensor got = with_threads(threads, [&] { return nsl::matmul_nt_fixed(a, b); });
    BOOST_TEST(got.sizes() == ref.sizes());
    BOOST_TEST((got.to(torch::kFloat64) - ref).abs().max().item<double>() < 1e-4);
  }
  BOOST_CHECK_THROW(nsl::matmul_nt_fixed(a, torch::randn({3, 41})), std::invalid_argument);
  BOOST_TEST(nsl::matmul_nt_fixed(a.slice(0, 0, 0), b).sizes() ==
             torch::IntArrayRef({0, b.size(0)}));
}

BOOST_AUTO_TEST_CASE(fixed_product_bits_do_not_depend_on_threads) {
  torch::manual_seed(5);
  // The shapes of the report and of an evaluation chunk: 144 x 64 against 144 rows, and
  // 277 queries against 5,000 gallery rows of 512.
  for (auto [m, n, k] : std::vector<std::array<int64_t, 3>>{{144, 144, 64}, {277, 5000, 512}}) {
    const torch::Tensor a = unit_rows(torch::randn({m, k}));
    const torch::Tensor b = unit_rows(torch::randn({n, k}));
    const torch::Tensor one = with_threads(1, [&] { return nsl::matmul_nt_fixed(a, b); });
    const torch::Tensor two = with_threads(2, [&] { return nsl::matmul_nt_fixed(a, b); });
    BOOST_TEST(torch::equal(one, two), m << "x" << k << " times " << k << "x" << n);
    const torch::Tensor plain1 = with_threads(1, [&] { return torch::mm(a, b.t()); });
    const torch::Tensor plain2 = with_threads(2, [&] { return torch::mm(a, b.t()); });
    BOOST_TEST_MESSAGE("plain torch::mm " << m << "x" << k << " @ " << k << "x" << n
                                          << (torch::equal(plain1, plain2) ? ": same" : ": differs")
                                          << " with 1 and 2 threads on this machine");
  }
}

// The whole evaluation (Recall@K, MAP@R, R-Precision, NMI) gives identical numbers.
BOOST_AUTO_TEST_CASE(evaluation_does_not_depend_on_threads) {
  torch::Tensor labels;
  const torch::Tensor unit = clustered(1500, 64, 150, &labels);
  nsl::EvalOptions options;
  options.max_chunk_elements = 300 * 1500;  // 5 chunks
  auto run = [&] { return nsl::evaluate_retrieval({unit, labels}, nullptr, options); };
  const nsl::RetrievalMetrics one = with_threads(1, run);
  const nsl::RetrievalMetrics two = with_threads(2, run);
  BOOST_TEST(one.recall == two.recall, boost::test_tools::per_element());
  BOOST_TEST(one.map_at_r == two.map_at_r);
  BOOST_TEST(one.r_precision == two.r_precision);
  BOOST_TEST(one.nmi == two.nmi);
  BOOST_TEST(one.recall[0] > 0.3);  // the data has structure: the comparison is not vacuous
}

// The network's evaluation forward: the same embedding bits for 1 and 2 threads, for the small CNN
// and a ResNet-18 (eval-mode BatchNorm), with a batch whose last piece holds one image.
BOOST_AUTO_TEST_CASE(embeddings_do_not_depend_on_threads) {
  for (const auto backbone : {nsl::Backbone::kSmallCnn, nsl::Backbone::kResnet18}) {
    BOOST_TEST_CONTEXT(nsl::choice_name(backbone)) {
      nsl::ModelConfig mc;
      mc.backbone = backbone;
      mc.channels = {8, 16};
      mc.norm_groups = 4;
      mc.embedding_dim = 32;
      torch::manual_seed(7);
      nsl::EmbeddingNet net(mc, 3);
      net->eval();
      const torch::Tensor images = torch::randn({nsl::kEmbedPieceImages * 2 + 1, 3, 32, 32});
      const torch::Tensor one = with_threads(1, [&] { return nsl::embed_images(net, images); });
      const torch::Tensor two = with_threads(2, [&] { return nsl::embed_images(net, images); });
      BOOST_TEST(torch::equal(one, two));
      // The pieces compute what the whole batch computes, up to rounding.
      torch::NoGradGuard no_grad;
      BOOST_TEST((one - net->forward(images).unit).abs().max().item<float>() < 1e-5f);
    }
  }
}
