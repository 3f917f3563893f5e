#include "dist/watchdog.h"

#include <thread>

#include "common/error.h"
#include "dist/mpi_error.h"

namespace nsl {
namespace {

constexpr int kNoticeTag = 7;
// After this long in one wait, poll every millisecond instead of spinning: the peer is busy
// elsewhere (a long Gram-Schmidt on rank 0, a checkpoint), latency no longer matters.
constexpr double kSpinSeconds = 1.0;
// After the timeout, announcements still in flight get this long to arrive before the report.
constexpr double kGraceSeconds = 1.0;

using Clock = std::chrono::steady_clock;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

void check(int rc, const char* op) { check_mpi(rc, std::string(op) + " (watchdog side channel)"); }

}  // namespace

Watchdog::Watchdog(MPI_Comm notices, int rank, int size)
    : comm_(notices),
      rank_(rank),
      size_(size),
      log_(rank, size),
      inbox_(static_cast<size_t>(size)),
      receives_(static_cast<size_t>(size), MPI_REQUEST_NULL) {
  for (int p = 0; p < size_; ++p) {
    if (p != rank_) post_receive(p);
  }
}

Watchdog::~Watchdog() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  for (MPI_Request& r : receives_) {
    if (r == MPI_REQUEST_NULL) continue;
    MPI_Cancel(&r);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
  for (Outgoing& out : outbox_) {
    for (MPI_Request& r : out.requests) {
      if (r != MPI_REQUEST_NULL) MPI_Wait(&r, MPI_STATUS_IGNORE);  // eager: already sent
    }
  }
  MPI_Comm_free(&comm_);
}

void Watchdog::post_receive(int peer) {
  check(MPI_Irecv(inbox_[static_cast<size_t>(peer)].words, 3, MPI_INT64_T, peer, kNoticeTag, comm_,
                  &receives_[static_cast<size_t>(peer)]),
        "Irecv");
}

CollectiveDesc Watchdog::begin(CollectiveOp op, int64_t bytes, const std::string& dtype) {
  const int64_t seq = next_seq_++;
  CollectiveDesc desc{seq, op, bytes, dtype};
  if (size_ > 1) {
    Outgoing& out = outbox_.emplace_back();
    out.notice.words[0] = seq;
    out.notice.words[1] = static_cast<int64_t>(op);
    out.notice.words[2] = bytes;
    for (int p = 0; p < size_; ++p) {
      if (p == rank_) continue;
      out.requests.push_back(MPI_REQUEST_NULL);
      check(MPI_Isend(out.notice.words, 3, MPI_INT64_T, p, kNoticeTag, comm_, &out.requests.back()),
            "Isend");
    }
  }
  if (auto diverged = log_.enter(desc); diverged && !diverged_) diverged_ = diverged;
  poll();
  return desc;
}

void Watchdog::poll() {
  for (int p = 0; p < size_; ++p) {
    MPI_Request& r = receives_[static_cast<size_t>(p)];
    while (r != MPI_REQUEST_NULL) {
      int arrived = 0;
      check(MPI_Test(&r, &arrived, MPI_STATUS_IGNORE), "Test");
      if (!arrived) break;
      const Notice& n = inbox_[static_cast<size_t>(p)];
      const CollectiveDesc desc{n.words[0], static_cast<CollectiveOp>(n.words[1]), n.words[2], {}};
      if (auto diverged = log_.peer_entered(p, desc); diverged && !diverged_) {
        diverged_ = diverged;
      }
      post_receive(p);
    }
  }
  for (auto it = outbox_.begin(); it != outbox_.end();) {
    int sent = 0;
    check(MPI_Testall(static_cast<int>(it->requests.size()), it->requests.data(), &sent,
                      MPI_STATUSES_IGNORE),
          "Testall");
    it = sent ? outbox_.erase(it) : std::next(it);
  }
  raise_if_diverged();
}

void Watchdog::confirm(const CollectiveDesc& desc, Clock::time_point started) {
  // Every peer announced this collective before starting it, so the announcements are at most
  // in flight; usually they are here already and this costs one poll.
  for (;;) {
    poll();
    if (log_.missing(desc.seq).empty()) return;
    if (seconds_between(started, Clock::now()) > timeout_s_ + kGraceSeconds) {
      timed_out_ = true;
      throw DistributedError(log_.timeout_message(desc, timeout_s_));
    }
    std::this_thread::yield();
  }
}

void Watchdog::raise_if_diverged() {
  if (diverged_) throw DistributedError("watchdog: " + *diverged_);
}

void Watchdog::wait(const CollectiveDesc& desc, Clock::time_point started,
                    const std::function<bool()>& done) {
  const Clock::time_point wait_start = Clock::now();
  for (;;) {
    if (done()) {
      confirm(desc, started);
      return;
    }
    poll();
    const Clock::time_point now = Clock::now();
    if (seconds_between(started, now) > timeout_s_) break;
    if (seconds_between(wait_start, now) < kSpinSeconds) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  const Clock::time_point grace_start = Clock::now();
  while (seconds_between(grace_start, Clock::now()) < kGraceSeconds) {
    if (done()) {
      confirm(desc, started);
      return;
    }
    poll();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  timed_out_ = true;
  throw DistributedError(log_.timeout_message(desc, timeout_s_));
}

}  // namespace nsl
