#pragma once
// Numbers every collective of a communicator, announces each one to the peers on a side channel
// (a duplicate MPI communicator carrying three integers per collective), and waits for
// collectives with a deadline. A collective that is not done after timeout_s, or a peer that
// announces a different collective under the same number, raises DistributedError with the
// operation, its number and the ranks that did not arrive (see CollectiveLog).
//
// Used by the MPI back end and, for its control plane, by the NCCL back end. Not thread-safe:
// one thread at a time (MPI_THREAD_SERIALIZED).
#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include "dist/collective_log.h"

namespace nsl {

class Watchdog {
 public:
  // `notices` must be a communicator of its own (a duplicate); the watchdog frees it.
  Watchdog(MPI_Comm notices, int rank, int size);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  void set_timeout(double seconds) { timeout_s_ = seconds; }
  double timeout_s() const { return timeout_s_; }
  int64_t next_sequence() const { return next_seq_; }

  // Numbers and announces a collective.
  CollectiveDesc begin(CollectiveOp op, int64_t bytes, const std::string& dtype);
  // Calls done() (which must make progress, e.g. MPI_Test) until it returns true and every peer
  // has announced `desc`; throws DistributedError when `desc` started more than timeout_s ago or
  // the ranks diverged.
  void wait(const CollectiveDesc& desc, std::chrono::steady_clock::time_point started,
            const std::function<bool()>& done);
  // Receives peer announcements that have arrived; throws on divergence.
  void poll();
  // True once this watchdog has raised (a timeout or divergence): the job is ending, collectives
  // still in flight must not be waited for again.
  bool failed() const { return diverged_.has_value() || timed_out_; }

 private:
  void post_receive(int peer);
  // After a collective completed: waits for every peer's announcement of it, so a result is
  // never used when another rank was in a different collective (mismatched MPI calls can
  // complete with garbage instead of hanging).
  void confirm(const CollectiveDesc& desc, std::chrono::steady_clock::time_point started);
  void raise_if_diverged();

  MPI_Comm comm_;
  int rank_, size_;
  CollectiveLog log_;
  double timeout_s_ = 600.0;
  int64_t next_seq_ = 1;
  std::optional<std::string> diverged_;
  bool timed_out_ = false;

  struct Notice {
    int64_t words[3] = {0, 0, 0};  // seq, op, bytes
  };
  std::vector<Notice> inbox_;          // one posted receive per peer
  std::vector<MPI_Request> receives_;  // MPI_REQUEST_NULL for this rank
  struct Outgoing {
    Notice notice;
    std::vector<MPI_Request> requests;
  };
  std::list<Outgoing> outbox_;  // sends not completed yet (a list: MPI holds the buffers)
};

}  // namespace nsl
