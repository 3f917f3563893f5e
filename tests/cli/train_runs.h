#pragma once
// Runs of `nsl_dist train` on the tiny configuration and what they leave on disk, shared by the
// fault tests (test_cli_resilience.cpp, test_cli_faults.cpp).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_support.h"

namespace nsl::test {

// configs/tiny.yaml on `data`, 3 epochs of 6 steps, one thread per rank, no progress line.
inline std::string tiny_train(const std::string& data, const std::string& out,
                              const std::string& extra = "") {
  return nsl_dist() + " train --config " + NSL_SOURCE_DIR +
         "/configs/tiny.yaml --set data.path=" + data + " --out " + out +
         " --quiet --set train.threads_per_rank=1 --set train.epochs=3"
         " --set train.max_steps_per_epoch=6 " +
         extra;
}

// One dataset of the default size (24 classes x 12 images) for every test that needs no other.
inline const std::string& small_data() {
  static ScratchDir dir("resilience_data");
  static const std::string data = [] {
    const std::string d = dir / "data";
    make_dataset(d);
    return d;
  }();
  return data;
}

inline nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return nlohmann::json::parse(in);
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Final checkpoint folders (step-<12 digits>), oldest first.
inline std::vector<std::filesystem::path> checkpoints(const std::string& out) {
  std::vector<std::filesystem::path> dirs;
  const std::filesystem::path root = std::filesystem::path(out) / "checkpoints";
  if (!std::filesystem::exists(root)) return dirs;
  for (const auto& e : std::filesystem::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name.rfind("step-", 0) == 0 && name.size() == 17) {
      dirs.push_back(e.path());
    }
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// Complete metrics.jsonl lines (a line being written is skipped).
inline std::vector<nlohmann::json> read_metrics(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(std::filesystem::path(out) / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded()) lines.push_back(j);
  }
  return lines;
}

}  // namespace nsl::test
