#pragma once
// Exception types and the documented process exit codes they map to (see README "Exit codes").
#include <stdexcept>
#include <string>

namespace nsl {

enum ExitCode : int {
  kExitOk = 0,
  kExitRuntime = 1,      // unexpected failure inside a rank
  kExitConfig = 2,       // bad command line or configuration: nothing was started
  kExitData = 3,         // dataset missing, malformed or inconsistent
  kExitDistributed = 4,  // a collective failed or ranks disagree
  kExitPreempted = 75,   // checkpointed after a preemption signal; requeue and --resume auto
};

// Base of every error the program reports; carries the exit code main() returns for it.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& what) : std::runtime_error(what), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& what) : Error(kExitConfig, what) {}
};

class DataError : public Error {
 public:
  explicit DataError(const std::string& what) : Error(kExitData, what) {}
};

class DistributedError : public Error {
 public:
  explicit DistributedError(const std::string& what) : Error(kExitDistributed, what) {}
};

// Every rank met the same condition at the same point (a diverged loss, say, which every rank
// sees in the all-reduced value) and throws this together: main() prints the message once (rank
// 0) and returns the code on every rank without MPI_Abort, which would kill the ranks mid-message.
class StoppedTogether : public Error {
 public:
  StoppedTogether(ExitCode code, const std::string& what) : Error(code, what) {}
};

// Not a failure: every rank stopped together after a preemption signal and the checkpoint is on
// disk. main() returns kExitPreempted on every rank without aborting the job.
class Preempted : public StoppedTogether {
 public:
  explicit Preempted(const std::string& what) : StoppedTogether(kExitPreempted, what) {}
};

}  // namespace nsl
