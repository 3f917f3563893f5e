#define BOOST_TEST_MODULE mpi_eval
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <filesystem>

#include "data/manifest.h"
#include "data/shard_batch_source.h"
#include "data/synthetic.h"
#include "dist/local_communicator.h"
#include "eval/evaluate_model.h"
#include "mpi/mpi_fixture.h"

using nsl::test::world;

using nsl::test::MpiFixture;
BOOST_GLOBAL_FIXTURE(MpiFixture);

namespace {

// The same data on every rank: unit rows rounded to multiples of 1/8 (exact ties) and labels with
// a few lone queries.
nsl::EvalSet tied_set(int64_t n, int64_t d, int64_t classes, uint64_t seed) {
  torch::manual_seed(seed);
  auto e = torch::randn({n, d}, torch::kFloat64);
  e = torch::round(e / e.norm(2, 1, true) * 8) / 8;
  e = e / e.norm(2, 1, true);
  auto y = torch::randint(0, classes, {n}, torch::kInt64);
  y[0] = 10'000;
  y[n - 1] = 10'001;
  return {e.to(torch::kFloat32), y};
}

// Bit-for-bit equality of everything the evaluator reports.
void check_identical(const nsl::RetrievalMetrics& a, const nsl::RetrievalMetrics& b) {
  BOOST_TEST(a.ks == b.ks);
  BOOST_TEST(a.recall == b.recall);
  BOOST_TEST(a.map_at_r == b.map_at_r);
  BOOST_TEST(a.r_precision == b.r_precision);
  BOOST_TEST((a.nmi == b.nmi || (std::isnan(a.nmi) && std::isnan(b.nmi))));
  BOOST_TEST(a.queries == b.queries);
  BOOST_TEST(a.lone_queries == b.lone_queries);
  BOOST_TEST(a.gallery == b.gallery);
}

nsl::EvalOptions options(int64_t chunk_elements) {
  nsl::EvalOptions o;
  o.recall_k = {1, 2, 4, 8, 10, 100};
  o.max_chunk_elements = chunk_elements;
  o.seed = 9;
  return o;
}

}  // namespace

BOOST_AUTO_TEST_CASE(two_ranks_equal_one_process_exactly) {
  const nsl::EvalSet set = tied_set(1000, 12, 60, 4);
  // 37 rows per chunk (27 chunks: rank 0 searches one more), and one chunk for everything
  // (rank 1 searches nothing).
  for (int64_t chunk : {int64_t{1000 * 37}, int64_t{1} << 24}) {
    const auto distributed = nsl::evaluate_retrieval(world(), set, nullptr, options(chunk));
    const auto single = nsl::evaluate_retrieval(set, nullptr, options(chunk));
    check_identical(distributed, single);
    BOOST_TEST(distributed.lone_queries == 2);
    BOOST_TEST(!std::isnan(distributed.nmi));
  }
}

BOOST_AUTO_TEST_CASE(query_and_gallery_two_ranks_equal_one_process) {
  const nsl::EvalSet queries = tied_set(300, 8, 30, 5);
  const nsl::EvalSet gallery = tied_set(500, 8, 30, 6);
  const auto distributed = nsl::evaluate_retrieval(world(), queries, &gallery, options(500 * 11));
  const auto single = nsl::evaluate_retrieval(queries, &gallery, options(500 * 11));
  check_identical(distributed, single);
  BOOST_TEST(distributed.gallery == 500);
}

BOOST_AUTO_TEST_CASE(model_evaluation_two_ranks_equal_one_process) {
  // Each rank embeds its own shards of a generated test split; rank 0 then embeds the whole split
  // alone. Batches never cross shards, so the embeddings and every metric are identical.
  const std::string dir =
      (std::filesystem::temp_directory_path() / "nsl_mpi_eval_dataset").string();
  if (world().rank() == 0) {
    nsl::SyntheticSpec spec;
    spec.classes = 30;
    spec.images_per_class = 10;
    spec.image_size = 16;
    spec.shards = 3;
    spec.seed = 8;
    nsl::write_synthetic(spec, dir);
  }
  world().barrier();
  nsl::Config config =
      nsl::parse_config("data: {path: " + dir +
                        "}\nmodel: {channels: [8, 16], norm_groups: 4, embedding_dim: 8}\n"
                        "eval: {batch_size: 7, recall_k: [1, 2, 4, 8]}\n");
  const nsl::Manifest manifest = nsl::read_manifest(dir);
  nsl::ShardEvalSource mine(dir, manifest, "test", world().rank(), world().size());
  torch::manual_seed(1);
  nsl::EmbeddingNet net(config.model, manifest.channels);
  const auto distributed = nsl::evaluate_model(world(), net, mine, nullptr, config);
  nsl::LocalCommunicator alone;
  nsl::ShardEvalSource all(dir, manifest, "test", 0, 1);
  const auto single = nsl::evaluate_model(alone, net, all, nullptr, config);
  check_identical(distributed, single);
  BOOST_TEST(distributed.queries + distributed.lone_queries == all.total_size());
  world().barrier();
  if (world().rank() == 0) std::filesystem::remove_all(dir);
}
