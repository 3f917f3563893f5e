#pragma once
// Test hook for the watchdog tests: NSL_FAULT="<action>:<rank>:<sequence>" makes that rank
// misbehave at that collective. Actions: skip (return without taking part, as a rank on a
// diverging code path would), hang (sleep until killed), kill (SIGKILL itself). Unset: no fault.
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
  FaultAction at(int rank_now, int64_t seq_now) const {
    return rank_now == rank && seq_now == seq ? action : FaultAction::kNone;
  }
};

}  // namespace nsl
