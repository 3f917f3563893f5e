#pragma once
// SIGTERM and SIGUSR1 mean "you are about to be preempted" (Slurm sends them before the time
// limit or a preemption; mpirun forwards SIGUSR1 to every rank). The handler only records the
// signal; the trainer agrees on it with the other ranks at the next step boundary, checkpoints,
// and exits with code 75. A second SIGTERM ends the process at once (the default action), so an
// impatient user or scheduler is never ignored.
#include <atomic>

namespace nsl {

// Installs the handlers (idempotent) and returns the flag they set to the signal's number.
const std::atomic<int>& install_preemption_handlers();

}  // namespace nsl
