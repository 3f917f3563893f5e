#pragma once
// Bookkeeping of the watchdog, free of MPI so it can be tested alone: which collective this rank
// is in (sequence number, operation, bytes), what every peer last announced, whether a peer
// announced a different operation under the same sequence number (the ranks have diverged), and
// which peers never arrived at a collective that timed out.
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace nsl {

enum class CollectiveOp : int64_t {
  kAllReduce = 1,
  kBroadcast = 2,
  kAllGather = 3,
  kAllGatherV = 4,
  kBarrier = 5,
};

const char* op_name(CollectiveOp op);

// One collective as every rank must see it: the same operation over the same number of bytes
// (all-gather(v) parts may differ in size, so their bytes are not compared).
struct CollectiveDesc {
  int64_t seq = 0;
  CollectiveOp op = CollectiveOp::kBarrier;
  int64_t bytes = 0;
  std::string dtype;  // for messages only; not announced

  std::string describe() const;  // "#57 all_reduce (1.2 MiB float32)"
};

class CollectiveLog {
 public:
  CollectiveLog(int rank, int size);

  // This rank enters `desc`; returns a divergence message when a peer announced something else
  // under the same sequence number.
  std::optional<std::string> enter(const CollectiveDesc& desc);
  // A peer's announcement; returns a divergence message as above.
  std::optional<std::string> peer_entered(int peer, const CollectiveDesc& desc);

  // Peers whose newest announcement is older than `seq`.
  std::vector<int> missing(int64_t seq) const;
  // Their last announced collective, or "none yet".
  std::string last_seen(int peer) const;
  // The watchdog's message for a collective that did not finish within `timeout_s`.
  std::string timeout_message(const CollectiveDesc& desc, double timeout_s) const;

 private:
  std::optional<std::string> compare(int peer, const CollectiveDesc& mine,
                                     const CollectiveDesc& theirs) const;
  const CollectiveDesc* find(const std::deque<CollectiveDesc>& window, int64_t seq) const;
  void remember(std::deque<CollectiveDesc>& window, const CollectiveDesc& desc);

  int rank_;
  std::deque<CollectiveDesc> mine_;                // the newest kWindow of this rank
  std::vector<std::deque<CollectiveDesc>> peers_;  // the newest kWindow of each peer
};

}  // namespace nsl
