#include "dist/collective_log.h"

#include <cstdio>

namespace nsl {
namespace {

constexpr size_t kWindow = 256;

std::string human_bytes(int64_t bytes) {
  char text[32];
  if (bytes < 1024) {
    std::snprintf(text, sizeof(text), "%lld B", static_cast<long long>(bytes));
  } else if (bytes < (1 << 20)) {
    std::snprintf(text, sizeof(text), "%.1f KiB", static_cast<double>(bytes) / 1024.0);
  } else {
    std::snprintf(text, sizeof(text), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  }
  return text;
}

bool sizes_must_match(CollectiveOp op) {
  return op != CollectiveOp::kAllGather && op != CollectiveOp::kAllGatherV;
}

}  // namespace

const char* op_name(CollectiveOp op) {
  switch (op) {
    case CollectiveOp::kAllReduce:
      return "all_reduce";
    case CollectiveOp::kBroadcast:
      return "broadcast";
    case CollectiveOp::kAllGather:
      return "all_gather";
    case CollectiveOp::kAllGatherV:
      return "all_gather_v";
    case CollectiveOp::kBarrier:
      return "barrier";
  }
  return "unknown";
}

std::string CollectiveDesc::describe() const {
  std::string s = "#" + std::to_string(seq) + " " + op_name(op);
  if (op != CollectiveOp::kBarrier) {
    s += " (" + human_bytes(bytes) + (dtype.empty() ? "" : " " + dtype) + ")";
  }
  return s;
}

CollectiveLog::CollectiveLog(int rank, int size) : rank_(rank), peers_(static_cast<size_t>(size)) {}

const CollectiveDesc* CollectiveLog::find(const std::deque<CollectiveDesc>& window,
                                          int64_t seq) const {
  for (auto it = window.rbegin(); it != window.rend(); ++it) {
    if (it->seq == seq) return &*it;
    if (it->seq < seq) break;
  }
  return nullptr;
}

void CollectiveLog::remember(std::deque<CollectiveDesc>& window, const CollectiveDesc& desc) {
  window.push_back(desc);
  if (window.size() > kWindow) window.pop_front();
}

std::optional<std::string> CollectiveLog::compare(int peer, const CollectiveDesc& mine,
                                                  const CollectiveDesc& theirs) const {
  const bool same =
      mine.op == theirs.op && (!sizes_must_match(mine.op) || mine.bytes == theirs.bytes);
  if (same) return std::nullopt;
  return "ranks diverged at collective #" + std::to_string(mine.seq) + ": rank " +
         std::to_string(rank_) + " called " + mine.describe() + " but rank " +
         std::to_string(peer) + " called " + theirs.describe() +
         " (the ranks must call the same collectives in the same order)";
}

std::optional<std::string> CollectiveLog::enter(const CollectiveDesc& desc) {
  remember(mine_, desc);
  for (size_t p = 0; p < peers_.size(); ++p) {
    if (static_cast<int>(p) == rank_) continue;
    if (const CollectiveDesc* theirs = find(peers_[p], desc.seq)) {
      if (auto diverged = compare(static_cast<int>(p), desc, *theirs)) return diverged;
    }
  }
  return std::nullopt;
}

std::optional<std::string> CollectiveLog::peer_entered(int peer, const CollectiveDesc& desc) {
  remember(peers_[static_cast<size_t>(peer)], desc);
  if (const CollectiveDesc* mine = find(mine_, desc.seq)) return compare(peer, *mine, desc);
  return std::nullopt;
}

std::vector<int> CollectiveLog::missing(int64_t seq) const {
  std::vector<int> out;
  for (size_t p = 0; p < peers_.size(); ++p) {
    if (static_cast<int>(p) == rank_) continue;
    if (peers_[p].empty() || peers_[p].back().seq < seq) out.push_back(static_cast<int>(p));
  }
  return out;
}

std::string CollectiveLog::last_seen(int peer) const {
  const auto& window = peers_[static_cast<size_t>(peer)];
  return window.empty() ? std::string("none yet") : window.back().describe();
}

std::string CollectiveLog::timeout_message(const CollectiveDesc& desc, double timeout_s) const {
  char secs[32];
  std::snprintf(secs, sizeof(secs), "%g", timeout_s);
  std::string msg = "watchdog: collective " + desc.describe() + " did not complete within " + secs +
                    " s (dist.timeout_s) on rank " + std::to_string(rank_) + "; ";
  const std::vector<int> absent = missing(desc.seq);
  if (absent.empty()) {
    msg +=
        "every rank arrived at it, so the collective itself stalled (network or a peer "
        "process stopped inside it)";
    return msg;
  }
  msg += "ranks that did not arrive:";
  for (size_t i = 0; i < absent.size(); ++i) {
    msg += (i == 0 ? " " : ", ") + std::to_string(absent[i]) + " (last at " + last_seen(absent[i]) +
           ")";
  }
  msg += "; the job is ended so it does not hang (a rank died, hangs, or skipped a collective)";
  return msg;
}

}  // namespace nsl
