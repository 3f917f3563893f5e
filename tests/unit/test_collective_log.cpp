// The watchdog's bookkeeping without MPI: divergence between ranks, who did not arrive, and the
// message a timed-out collective produces.
#define BOOST_TEST_MODULE collective_log
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>

#include "dist/collective_log.h"

using nsl::CollectiveDesc;
using nsl::CollectiveLog;
using nsl::CollectiveOp;

namespace {

CollectiveDesc reduce(int64_t seq, int64_t bytes) {
  return {seq, CollectiveOp::kAllReduce, bytes, "float32"};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_CASE(same_collectives_never_diverge_in_either_arrival_order) {
  CollectiveLog log(0, 3);
  BOOST_TEST(!log.enter(reduce(1, 400)));
  BOOST_TEST(!log.peer_entered(1, reduce(1, 400)));  // peer after me
  BOOST_TEST(!log.peer_entered(2, reduce(1, 400)));
  BOOST_TEST(!log.peer_entered(1, reduce(2, 8)));  // peer before me
  BOOST_TEST(!log.enter(reduce(2, 8)));
  // All-gather parts may differ in size.
  BOOST_TEST(!log.enter({3, CollectiveOp::kAllGatherV, 100, "int64"}));
  BOOST_TEST(!log.peer_entered(1, {3, CollectiveOp::kAllGatherV, 60, ""}));
}

BOOST_AUTO_TEST_CASE(a_different_operation_or_size_under_one_number_is_divergence) {
  CollectiveLog log(0, 2);
  BOOST_TEST(!log.enter(reduce(1, 400)));
  const auto diverged = log.peer_entered(1, {1, CollectiveOp::kBroadcast, 400, ""});
  BOOST_REQUIRE(diverged.has_value());
  BOOST_TEST(contains(*diverged, "#1"));
  BOOST_TEST(contains(*diverged, "all_reduce"));
  BOOST_TEST(contains(*diverged, "rank 1 called #1 broadcast"));

  CollectiveLog other(1, 2);
  BOOST_TEST(!other.peer_entered(0, reduce(1, 400)));
  const auto by_size = other.enter(reduce(1, 800));  // detected when this rank arrives second
  BOOST_REQUIRE(by_size.has_value());
  BOOST_TEST(contains(*by_size, "rank 0 called #1 all_reduce (400 B"));
}

BOOST_AUTO_TEST_CASE(missing_ranks_are_those_whose_last_announcement_is_older) {
  CollectiveLog log(1, 4);
  log.enter(reduce(5, 4));
  log.peer_entered(0, reduce(5, 4));
  log.peer_entered(2, reduce(4, 4));  // rank 2 stopped before #5; rank 3 never announced
  BOOST_TEST(log.missing(5) == std::vector<int>({2, 3}));
  BOOST_TEST(log.missing(4) == std::vector<int>({3}));
  BOOST_TEST(log.last_seen(2) == "#4 all_reduce (4 B float32)");
  BOOST_TEST(log.last_seen(3) == "none yet");

  const std::string msg =
      log.timeout_message({5, CollectiveOp::kAllReduce, 3 << 20, "float32"}, 10);
  BOOST_TEST(contains(msg, "#5 all_reduce (3.0 MiB float32) did not complete within 10 s"));
  BOOST_TEST(contains(msg, "on rank 1"));
  BOOST_TEST(contains(
      msg,
      "ranks that did not arrive: 2 (last at #4 all_reduce (4 B float32)), 3 (last at none yet)"));
}

BOOST_AUTO_TEST_CASE(timeout_with_every_rank_present_says_the_collective_stalled) {
  CollectiveLog log(0, 2);
  log.enter({7, CollectiveOp::kBarrier, 0, ""});
  log.peer_entered(1, {7, CollectiveOp::kBarrier, 0, ""});
  const std::string msg = log.timeout_message({7, CollectiveOp::kBarrier, 0, ""}, 2.5);
  BOOST_TEST(contains(msg, "#7 barrier did not complete within 2.5 s"));
  BOOST_TEST(contains(msg, "every rank arrived"));
}
