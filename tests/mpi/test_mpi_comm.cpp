#define BOOST_TEST_MODULE mpi_comm
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include "common/error.h"
#include "mpi/mpi_fixture.h"

using nsl::ReduceOp;
using nsl::test::world;

using nsl::test::MpiFixture;
BOOST_GLOBAL_FIXTURE(MpiFixture);

BOOST_AUTO_TEST_CASE(world_has_two_ranks) {
  BOOST_TEST(world().size() == 2);
  BOOST_TEST(world().local_size() == 2);
  BOOST_TEST(world().local_rank() == world().rank());
}

BOOST_AUTO_TEST_CASE(all_reduce_every_dtype_and_op) {
  const int r = world().rank();
  for (auto dtype : {torch::kFloat32, torch::kFloat64, torch::kInt64, torch::kInt32}) {
    // rank r holds [r+1, 10*(r+1), -(r+1)]: sums, maxima and minima are known by hand.
    auto make = [&] { return torch::tensor({r + 1, 10 * (r + 1), -(r + 1)}).to(dtype); };
    auto sum = make(), mx = make(), mn = make();
    world().all_reduce(sum, ReduceOp::kSum);
    world().all_reduce(mx, ReduceOp::kMax);
    world().all_reduce(mn, ReduceOp::kMin);
    BOOST_TEST(torch::equal(sum, torch::tensor({3, 30, -3}).to(dtype)));
    BOOST_TEST(torch::equal(mx, torch::tensor({2, 20, -1}).to(dtype)));
    BOOST_TEST(torch::equal(mn, torch::tensor({1, 10, -2}).to(dtype)));
  }
  // A large buffer: element i summed over ranks is i + (i + 1).
  auto big = torch::arange(1 << 20, torch::kFloat64) + r;
  world().all_reduce(big, ReduceOp::kSum);
  BOOST_TEST(torch::equal(big, 2 * torch::arange(1 << 20, torch::kFloat64) + 1));
}

BOOST_AUTO_TEST_CASE(broadcast_from_each_root) {
  for (int root = 0; root < 2; ++root) {
    auto t = torch::full({3, 4}, static_cast<double>(world().rank() * 7 + 1), torch::kFloat64);
    world().broadcast(t, root);
    BOOST_TEST(torch::equal(t, torch::full({3, 4}, root * 7.0 + 1, torch::kFloat64)));
  }
}

BOOST_AUTO_TEST_CASE(all_gather_rows_with_uneven_counts) {
  const int r = world().rank();
  // rank 0 sends 1 row, rank 1 sends 3 rows, each row [r, row].
  const int64_t rows = r == 0 ? 1 : 3;
  auto local = torch::zeros({rows, 2}, torch::kInt64);
  for (int64_t i = 0; i < rows; ++i) {
    local[i][0] = r;
    local[i][1] = i;
  }
  const auto all = world().all_gather_rows(local);
  const auto expected = torch::tensor({0, 0, 1, 0, 1, 1, 1, 2}, torch::kInt64).view({4, 2});
  BOOST_TEST(torch::equal(all, expected));
  // An empty part is allowed.
  const auto empty = world().all_gather_rows(r == 0 ? torch::zeros({0, 3}) : torch::ones({2, 3}));
  BOOST_TEST(torch::equal(empty, torch::ones({2, 3})));
}

BOOST_AUTO_TEST_CASE(non_contiguous_input_is_rejected) {
  auto t = torch::zeros({4, 4}).t();
  BOOST_CHECK_THROW(world().all_reduce(t, ReduceOp::kSum), nsl::DistributedError);
}
