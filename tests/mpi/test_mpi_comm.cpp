#define BOOST_TEST_MODULE mpi_comm
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "mpi/mpi_fixture.h"
#include "train/gradient_reducer.h"

using nsl::GradientReducer;
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

// ---------------------------------------------------------------------------------------------
// Every dtype, size and operation against a reference computed by a plain loop.

namespace {

const std::vector<torch::ScalarType> kDtypes = {torch::kFloat32, torch::kFloat64, torch::kInt64,
                                                torch::kInt32, torch::kUInt8};
const std::vector<int64_t> kSizes = {0, 1, 7, 1000, (int64_t{1} << 20) + 3};

bool is_float(torch::ScalarType t) { return t == torch::kFloat32 || t == torch::kFloat64; }

// The integer that element i of rank r's tensor encodes (different on every rank, so sums, maxima
// and minima are all informative). Floating dtypes hold it divided by 4: small integers and
// quarters are exact in float32 and float64, and so are their sums. uint8 values stay below 100
// so a sum over two ranks cannot overflow; int64 values exceed 2^32.
int64_t pattern(torch::ScalarType dtype, int r, int64_t i) {
  const int64_t signed_small = (i * 37 + r * 11) % 201 - 100;
  switch (dtype) {
    case torch::kUInt8:
      return (i * 7 + r * 13 + 5) % 100;
    case torch::kInt32:
      return signed_small * 1000003;
    case torch::kInt64:
      return signed_small + ((i % 5) << (33 + r));
    default:
      return signed_small;
  }
}

// A tensor of `dtype` from encoded integers (see pattern()).
torch::Tensor from_codes(const std::vector<int64_t>& codes, torch::ScalarType dtype) {
  auto t = torch::empty({static_cast<int64_t>(codes.size())}, torch::kInt64);
  int64_t* p = t.data_ptr<int64_t>();
  for (size_t i = 0; i < codes.size(); ++i) p[i] = codes[i];
  return is_float(dtype) ? t.to(dtype) / 4 : t.to(dtype);
}

std::vector<int64_t> codes_of(torch::ScalarType dtype, int r, int64_t n) {
  std::vector<int64_t> codes(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) codes[static_cast<size_t>(i)] = pattern(dtype, r, i);
  return codes;
}

torch::Tensor local_tensor(torch::ScalarType dtype, int r, int64_t n) {
  return from_codes(codes_of(dtype, r, n), dtype);
}

// The reduction over every rank, one element at a time.
torch::Tensor reduced_reference(torch::ScalarType dtype, int64_t n, ReduceOp op) {
  const int ranks = world().size();
  std::vector<int64_t> codes(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t acc = pattern(dtype, 0, i);
    for (int r = 1; r < ranks; ++r) {
      const int64_t v = pattern(dtype, r, i);
      acc = op == ReduceOp::kSum   ? acc + v
            : op == ReduceOp::kMax ? std::max(acc, v)
                                   : std::min(acc, v);
    }
    codes[static_cast<size_t>(i)] = acc;
  }
  return from_codes(codes, dtype);
}

const char* op_text(ReduceOp op) {
  return op == ReduceOp::kSum ? "sum" : op == ReduceOp::kMax ? "max" : "min";
}

bool same(const torch::Tensor& a, const torch::Tensor& b) {
  return a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes() && torch::equal(a, b);
}

}  // namespace

BOOST_AUTO_TEST_CASE(all_reduce_dtypes_sizes_ops_match_a_loop) {
  const int r = world().rank();
  for (auto dtype : kDtypes) {
    for (int64_t n : kSizes) {
      for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax, ReduceOp::kMin}) {
        BOOST_TEST_CONTEXT(c10::toString(dtype) << " n=" << n << " " << op_text(op)) {
          auto t = local_tensor(dtype, r, n);
          world().all_reduce(t, op);
          BOOST_TEST(same(t, reduced_reference(dtype, n, op)));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(all_reduce_async_several_in_flight_waited_in_reverse) {
  const int r = world().rank();
  struct Job {
    torch::ScalarType dtype;
    int64_t n;
    ReduceOp op;
  };
  const std::vector<Job> jobs = {
      {torch::kFloat32, (int64_t{1} << 20) + 3, ReduceOp::kSum},
      {torch::kFloat64, 1000, ReduceOp::kMax},
      {torch::kInt64, 7, ReduceOp::kMin},
      {torch::kInt32, (int64_t{1} << 20) + 3, ReduceOp::kSum},
      {torch::kUInt8, 1000, ReduceOp::kSum},
      {torch::kFloat32, 0, ReduceOp::kMin},
      {torch::kFloat64, 1, ReduceOp::kSum},
  };
  const int64_t seq0 = world().next_sequence();
  std::vector<torch::Tensor> tensors;
  std::vector<std::unique_ptr<nsl::CollectiveWork>> works;
  for (const Job& j : jobs) {
    tensors.push_back(local_tensor(j.dtype, r, j.n));
    works.push_back(world().all_reduce_async(tensors.back(), j.op));
  }
  // Each took its number at the call.
  BOOST_TEST(world().next_sequence() == seq0 + static_cast<int64_t>(jobs.size()));
  for (size_t k = jobs.size(); k-- > 0;) works[k]->wait();
  for (size_t k = 0; k < jobs.size(); ++k) {
    BOOST_TEST_CONTEXT("job " << k) {
      BOOST_TEST(works[k]->test());
      BOOST_TEST(same(tensors[k], reduced_reference(jobs[k].dtype, jobs[k].n, jobs[k].op)));
    }
  }
}

BOOST_AUTO_TEST_CASE(broadcast_dtypes_sizes_from_both_roots) {
  const int r = world().rank();
  for (int root = 0; root < world().size(); ++root) {
    for (auto dtype : kDtypes) {
      for (int64_t n : {int64_t{0}, int64_t{1}, (int64_t{1} << 20) + 3}) {
        BOOST_TEST_CONTEXT(c10::toString(dtype) << " n=" << n << " root " << root) {
          auto t = local_tensor(dtype, r, n);
          world().broadcast(t, root);
          BOOST_TEST(same(t, local_tensor(dtype, root, n)));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(all_gather_rows_dtypes_shapes_and_empty_parts) {
  const int r = world().rank();
  const int ranks = world().size();
  // Rows per rank 0 and rank 1 (further ranks, if any, send 1 row).
  const std::vector<std::pair<int64_t, int64_t>> row_counts = {{2, 3}, {0, 4}, {3, 0}, {0, 0}};
  const std::vector<std::vector<int64_t>> row_shapes = {{}, {2, 3}};  // 1-D and 3-D tensors
  auto rows_of = [&](const std::pair<int64_t, int64_t>& rc, int rank) {
    return rank == 0 ? rc.first : rank == 1 ? rc.second : int64_t{1};
  };
  for (auto dtype : kDtypes) {
    for (const auto& rc : row_counts) {
      for (const auto& row_shape : row_shapes) {
        int64_t row_elems = 1;
        for (int64_t d : row_shape) row_elems *= d;
        auto shape_with = [&](int64_t rows) {
          std::vector<int64_t> s = {rows};
          s.insert(s.end(), row_shape.begin(), row_shape.end());
          return s;
        };
        BOOST_TEST_CONTEXT(c10::toString(dtype) << " rows " << rc.first << "+" << rc.second
                                                << " dims " << 1 + row_shape.size()) {
          const int64_t mine = rows_of(rc, r);
          const auto local = local_tensor(dtype, r, mine * row_elems).view(shape_with(mine));
          const auto all = world().all_gather_rows(local);
          // Reference: every rank's rows, rank after rank, copied in a loop.
          std::vector<int64_t> codes;
          int64_t total = 0;
          for (int q = 0; q < ranks; ++q) {
            const int64_t n = rows_of(rc, q);
            total += n;
            for (int64_t i = 0; i < n * row_elems; ++i) codes.push_back(pattern(dtype, q, i));
          }
          BOOST_TEST(same(all, from_codes(codes, dtype).view(shape_with(total))));
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(next_sequence_agrees_and_counts_every_collective) {
  const int64_t before = world().next_sequence();
  auto a = torch::ones({5});
  world().all_reduce(a, ReduceOp::kSum);                          // 1
  world().broadcast(a, 1);                                        // 1
  world().barrier();                                              // 1
  world().all_gather_rows(torch::ones({world().rank() + 1, 2}));  // 2: counts + data
  auto b = torch::ones({3}), c = torch::ones({1 << 16});
  auto wb = world().all_reduce_async(b, ReduceOp::kMax);  // 1
  auto wc = world().all_reduce_async(c, ReduceOp::kSum);  // 1
  wc->wait();
  wb->wait();
  const int64_t after = world().next_sequence();
  BOOST_TEST(after - before == 7);
  // The same on every rank: its maximum and minimum over the ranks are this rank's value.
  auto mx = torch::tensor({after}, torch::kInt64), mn = mx.clone();
  world().all_reduce(mx, ReduceOp::kMax);
  world().all_reduce(mn, ReduceOp::kMin);
  BOOST_TEST(mx.item<int64_t>() == after);
  BOOST_TEST(mn.item<int64_t>() == after);
  BOOST_TEST(world().next_sequence() == after + 2);
}

// ---------------------------------------------------------------------------------------------
// GradientReducer against a reference computed without it.

namespace {

// Registration order; the last one gets no gradient on rank 1 (unused there).
const std::vector<std::vector<int64_t>> kParamShapes = {{3}, {1000},  {4099}, {17, 13},
                                                        {1}, {25000}, {777}};
const std::vector<int64_t> kCentersShape = {11, 8};

bool used_on(size_t param, int rank) { return !(param + 1 == kParamShapes.size() && rank == 1); }

struct Weights {
  std::vector<torch::Tensor> params;
  torch::Tensor centers;
};

// Rank `rank`'s loss weights of step `step` (a different random set per rank and step).
Weights weights_of(int rank, int step) {
  torch::manual_seed(static_cast<uint64_t>(1000 * step + rank));
  Weights w;
  for (const auto& s : kParamShapes) w.params.push_back(torch::randn(s));
  w.centers = torch::randn(kCentersShape);
  return w;
}

torch::Tensor loss_of(const std::vector<torch::Tensor>& params, const torch::Tensor& centers,
                      const Weights& w, int rank) {
  torch::Tensor loss = (centers * w.centers).sum();
  for (size_t i = 0; i < params.size(); ++i) {
    if (used_on(i, rank)) loss = loss + (params[i] * w.params[i]).sum();
  }
  return loss;
}

// The summed gradients, computed the plain way: this rank's gradients from a separate autograd
// run on fresh leaf copies (zeros where unused), concatenated into ONE flat tensor, all-reduced
// with the communicator in one call, split again. Order: the parameters, then the centers.
std::vector<torch::Tensor> reference_sums(const std::vector<torch::Tensor>& params,
                                          const torch::Tensor& centers, const Weights& w) {
  std::vector<torch::Tensor> leaves;
  for (const auto& p : params) leaves.push_back(p.detach().clone().requires_grad_(true));
  auto c = centers.detach().clone().requires_grad_(true);
  loss_of(leaves, c, w, world().rank()).backward();
  leaves.push_back(c);
  std::vector<torch::Tensor> flat_parts;
  for (const auto& l : leaves) {
    flat_parts.push_back(l.grad().defined() ? l.grad().reshape({-1}) : torch::zeros({l.numel()}));
  }
  auto flat = torch::cat(flat_parts);
  world().all_reduce(flat, ReduceOp::kSum);
  std::vector<torch::Tensor> out;
  int64_t offset = 0;
  for (const auto& l : leaves) {
    out.push_back(flat.slice(0, offset, offset + l.numel()).view(l.sizes()).clone());
    offset += l.numel();
  }
  return out;
}

void check_reducer(int64_t bucket_bytes, const std::vector<int64_t>& expected_buckets) {
  const int r = world().rank();
  torch::manual_seed(7);  // the same parameter values on every rank
  std::vector<torch::Tensor> params;
  for (const auto& s : kParamShapes) params.push_back(torch::randn(s).requires_grad_(true));
  auto centers = torch::randn(kCentersShape).requires_grad_(true);
  const int64_t count = static_cast<int64_t>(params.size()) + 1;

  nsl::GradientReducer reducer(world(), params, {centers}, bucket_bytes);
  const auto sizes = reducer.bucket_sizes();
  BOOST_TEST(std::accumulate(sizes.begin(), sizes.end(), int64_t{0}) == count);
  BOOST_TEST(sizes == expected_buckets, boost::test_tools::per_element());
  BOOST_TEST(sizes.front() == 1);  // the centers, alone and first

  for (int step = 1; step <= 2; ++step) {
    BOOST_TEST_CONTEXT("bucket_bytes " << bucket_bytes << " step " << step) {
      const Weights w = weights_of(r, step);
      for (auto& p : params) p.mutable_grad().zero_();  // as the optimizer's zero_grad() does
      centers.mutable_grad().zero_();
      reducer.begin_step();
      loss_of(params, centers, w, r).backward();
      reducer.finish_step();
      BOOST_TEST_MESSAGE("rank " << r << " bucket_bytes " << bucket_bytes << " step " << step
                                 << ": " << reducer.launched_during_backward() << " of "
                                 << sizes.size() << " buckets started during backward");
      if (bucket_bytes < GradientReducer::kDefaultBucketBytes) {
        BOOST_TEST(reducer.launched_during_backward() > 0);
      }
      const auto ref = reference_sums(params, centers, w);
      // A second, fully local reference: every rank's weights regenerated here and added
      // (with two ranks a + b is one rounding, whatever the bucketing).
      std::vector<torch::Tensor> local_sum;
      for (size_t i = 0; i <= params.size(); ++i) {
        const bool is_centers = i == params.size();
        torch::Tensor acc = torch::zeros(is_centers ? kCentersShape : kParamShapes[i]);
        for (int q = 0; q < world().size(); ++q) {
          const Weights wq = weights_of(q, step);
          if (is_centers) {
            acc = acc + wq.centers;
          } else if (used_on(i, q)) {
            acc = acc + wq.params[i];
          }
        }
        local_sum.push_back(acc);
      }
      for (size_t i = 0; i <= params.size(); ++i) {
        const torch::Tensor& p = i == params.size() ? centers : params[i];
        BOOST_TEST_CONTEXT("param " << i) {
          BOOST_TEST_REQUIRE(p.grad().defined());
          BOOST_TEST(same(p.grad(), ref[i]));  // zeroed, then this step's sum only
          BOOST_TEST(same(ref[i], local_sum[i]));
        }
      }
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(gradient_reducer_small_buckets_match_one_flat_all_reduce) {
  // 16 KiB = 4096 floats. Reverse registration order packs [777] [25000] [1, 17x13] [4099]
  // [1000, 3] after the centers' own bucket: 4099 and 25000 exceed a bucket alone.
  check_reducer(16 << 10, {1, 1, 1, 2, 1, 2});
}

BOOST_AUTO_TEST_CASE(gradient_reducer_default_buckets_match_one_flat_all_reduce) {
  check_reducer(GradientReducer::kDefaultBucketBytes, {1, 7});
}

// ---------------------------------------------------------------------------------------------
// Watchdog: a rank that never arrives.

BOOST_AUTO_TEST_CASE(watchdog_names_the_rank_that_never_arrived) {
  // A communicator of its own, created by both ranks (its constructor is collective). Only rank 0
  // calls the all-reduce; rank 1 never arrives. Rank 0's MPI_Iallreduce then stays pending
  // forever, so this communicator is deliberately leaked (never deleted): its destructor would
  // MPI_Comm_free a communicator with a request in flight. The tensor is leaked too, since MPI
  // still holds its address. The fixture's world() communicator is untouched and used after.
  auto* side = new nsl::MpiCommunicator();  // NOLINT: leaked on purpose, see above
  if (world().rank() == 0) {
    side->set_timeout(1.0);
    const int64_t seq = side->next_sequence();
    auto* buffer = new torch::Tensor(torch::ones({4}));  // NOLINT: leaked on purpose
    const auto start = std::chrono::steady_clock::now();
    std::string message;
    try {
      side->all_reduce(*buffer, ReduceOp::kSum);
    } catch (const nsl::DistributedError& e) {
      message = e.what();
    }
    const double waited =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    BOOST_TEST_MESSAGE("rank 0 gave up after " << waited << " s: " << message);
    BOOST_TEST(message.find("did not complete within 1 s") != std::string::npos);
    BOOST_TEST(message.find("#" + std::to_string(seq) + " all_reduce") != std::string::npos);
    BOOST_TEST(message.find("ranks that did not arrive: 1") != std::string::npos);
    BOOST_TEST(waited >= 1.0);
    BOOST_TEST(waited < 10.0);
  }
  // Both ranks carry on on the fixture's communicator.
  auto t = torch::full({3}, static_cast<double>(world().rank() + 1), torch::kFloat64);
  world().all_reduce(t, ReduceOp::kSum);
  BOOST_TEST(same(t, torch::full({3}, 3.0, torch::kFloat64)));
  world().barrier();
}
