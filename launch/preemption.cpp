#include "launch/preemption.h"

#include <signal.h>

namespace nsl {
namespace {

std::atomic<int> g_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the flag is written by a signal handler");

extern "C" void on_preemption_signal(int signo) {
  const int previous = g_signal.exchange(signo);
  if (previous != 0 && signo == SIGTERM) {
    ::signal(SIGTERM, SIG_DFL);
    ::raise(SIGTERM);
  }
}

}  // namespace

const std::atomic<int>& install_preemption_handlers() {
  struct sigaction action {};
  action.sa_handler = on_preemption_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
  return g_signal;
}

}  // namespace nsl
