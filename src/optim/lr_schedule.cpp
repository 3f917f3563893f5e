#include "optim/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace nsl {

double scheduled_lr(LrSchedule schedule, double base, int64_t step, int64_t total_steps) {
  if (total_steps < 1)
    throw std::invalid_argument("scheduled_lr: total_steps " + std::to_string(total_steps) +
                                " < 1");
  if (schedule == LrSchedule::kConstant) return base;
  const double t = static_cast<double>(std::clamp<int64_t>(step, 0, total_steps)) /
                   static_cast<double>(total_steps);
  return base * 0.5 * (1.0 + std::cos(M_PI * t));
}

}  // namespace nsl
