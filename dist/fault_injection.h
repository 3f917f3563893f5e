#pragma once
// Test hook for the watchdog tests: NSL_FAULT="<action>:<rank>:<sequence>" makes that rank
// misbehave at that collective. Actions: skip (the first all-reduce numbered >= sequence returns
// without taking part, as on a rank whose code path diverged; all-reduces because their result
// is the input when nothing happens), hang (sleep until killed), kill (SIGKILL itself). Unset:
// no fault. FaultInjectingCommunicator carries the plan out.
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
  // The action due at a collective call numbered seq_now (a skip fires once: the caller remembers
  // it did). Hang and kill fire at the first call numbered seq or later: a call that uses several
  // numbers (all_gather_rows) is one call, so a fault numbered inside it fires at the next one.
  FaultAction at(int rank_now, int64_t seq_now, bool is_all_reduce, bool skipped_before) const {
    if (rank_now != rank || seq_now < seq) return FaultAction::kNone;
    if (action == FaultAction::kSkip) {
      return is_all_reduce && !skipped_before ? action : FaultAction::kNone;
    }
    return action;
  }
};

}  // namespace nsl
