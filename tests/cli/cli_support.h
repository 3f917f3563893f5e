#pragma once
// Running the nsl_dist binary from tests.
#include <stdexcept>
#include <string>

#include "support/run_command.h"
#include "test_paths.h"

namespace nsl::test {

inline std::string nsl_dist() { return std::string(NSL_BINARY_DIR) + "/nsl_dist"; }

inline std::string mpirun(int ranks) {
  return std::string(NSL_MPIEXEC) + " --allow-run-as-root --oversubscribe --bind-to none -np " +
         std::to_string(ranks) + " ";
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Runs `command`; throws with its output when it exits non-zero.
inline CommandResult must(const std::string& command) {
  CommandResult r = run_command(command);
  if (r.exit_code != 0)
    throw std::runtime_error("`" + command + "` exited " + std::to_string(r.exit_code) + ":\n" +
                             r.output);
  return r;
}

// Writes a small generated dataset with the real CLI.
inline void make_dataset(const std::string& dir, int classes = 24, int shards = 4) {
  const auto r = run_command(nsl_dist() + " synth --out " + dir + " --classes " +
                             std::to_string(classes) + " --images-per-class 12 --image-size 16" +
                             " --shards " + std::to_string(shards) + " --seed 2");
  if (r.exit_code != 0) throw std::runtime_error("synth failed: " + r.output);
}

}  // namespace nsl::test
