#pragma once
// The nsl_dist subcommands. Each returns the process exit code or throws nsl::Error; main() holds
// the one handler that maps exceptions to exit codes (README "Exit codes").
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace nsl {

struct TrainArgs {
  std::string config;
  std::vector<std::string> overrides;
  std::string out = "runs/train";
  bool dry_run = false;
  bool quiet = false;
  std::string resume = "none";  // none | auto | a checkpoint folder
};
void add_train_command(CLI::App& app, TrainArgs& args);
class JobContext;
int run_train(const TrainArgs& args, JobContext& job);

struct InfoArgs {
  int64_t gemm_size = 2048;
};
void add_info_command(CLI::App& app, InfoArgs& args);
int run_info(const InfoArgs& args);

struct SynthArgs {
  std::string out;
  int64_t classes = 300;
  int64_t images_per_class = 16;
  int64_t image_size = 32;
  int64_t shards = 8;
  uint64_t seed = 1;
};
void add_synth_command(CLI::App& app, SynthArgs& args);
int run_synth(const SynthArgs& args);

struct PrepArgs {
  std::string dataset;
  std::string root;
  std::string out;
  int64_t shards = 8;
  int64_t image_size = 64;
  int64_t channels = 3;
  bool bbox_crop = false;
  int64_t workers = 0;
  std::string on_bad_image = "fail";
  bool quiet = false;
};
void add_prep_command(CLI::App& app, PrepArgs& args);
int run_prep(const PrepArgs& args);

}  // namespace nsl
