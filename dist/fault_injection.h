#pragma once
// Test hook for the watchdog tests: NSL_FAULT="<action>:<rank>:<sequence>" makes that rank
// misbehave at that collective. Actions: skip (the first all-reduce numbered >= sequence returns
// without taking part, as on a rank whose code path diverged; all-reduces because their result
// is the input when nothing happens), hang (sleep until killed), kill (SIGKILL itself). Unset:
// no fault.
#include <cstdint>
#include <string>

namespace nsl {

enum class FaultAction { kNone, kSkip, kHang, kKill };

struct FaultPlan {
  FaultAction action = FaultAction::kNone;
  int rank = -1;
  int64_t seq = 0;

  // Parses the variable's value; throws ConfigError on a malformed one.
  static FaultPlan parse(const std::string& text);
  // From the environment (NSL_FAULT).
  static FaultPlan from_environment();
  // The action due at this collective (a skip fires once: the caller remembers it did).
  FaultAction at(int rank_now, int64_t seq_now, bool is_all_reduce, bool skipped_before) const {
    if (rank_now != rank) return FaultAction::kNone;
    if (action == FaultAction::kSkip) {
      return seq_now >= seq && is_all_reduce && !skipped_before ? action : FaultAction::kNone;
    }
    return seq_now == seq ? action : FaultAction::kNone;
  }
};

}  // namespace nsl
