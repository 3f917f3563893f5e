#pragma once
// train.lr_schedule: the learning rate of each optimisation step, a pure function of the global
// step so that a resumed run takes exactly the steps of an uninterrupted one.
#include <cstdint>

#include "config/choices.h"

namespace nsl {

// constant: base. cosine: base * (1 + cos(pi * step / total_steps)) / 2, from base at step 0
// towards 0 at step total_steps (steps past it keep the last value). `step` counts from 0.
// Throws std::invalid_argument for total_steps < 1.
double scheduled_lr(LrSchedule schedule, double base, int64_t step, int64_t total_steps);

}  // namespace nsl
