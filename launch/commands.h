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
  int64_t val_alphabets = 0;
  bool quiet = false;
};
void add_prep_command(CLI::App& app, PrepArgs& args);
int run_prep(const PrepArgs& args);

struct EvalArgs {
  std::string checkpoint;
  std::string data;  // default: the checkpoint config's data.path
  std::vector<std::string> overrides;
  std::string json;  // also write the metrics here
};
void add_eval_command(CLI::App& app, EvalArgs& args);
int run_eval(const EvalArgs& args, JobContext& job);

struct ReportArgs {
  std::string run;
  std::string data;  // default: the run config's data.path
  int64_t queries = 12;
  int64_t k = 8;
  uint64_t seed = 1;
  std::vector<std::string> overrides;
};
void add_report_command(CLI::App& app, ReportArgs& args);
int run_report(const ReportArgs& args);

struct EmbedArgs {
  std::string checkpoint;
  std::string data;   // default: the checkpoint config's data.path
  std::string split;  // default: the checkpoint config's data.test_split
  std::string out;
  std::vector<std::string> overrides;
  int64_t batch_size = 0;  // 0: the config's eval.batch_size
};
void add_embed_command(CLI::App& app, EmbedArgs& args);
int run_embed(const EmbedArgs& args, JobContext& job);

struct QueryArgs {
  std::string checkpoint;
  std::string index;
  std::vector<std::string> images;
  int64_t k = 10;
  std::vector<std::string> overrides;
  bool faiss = false;
  std::string faiss_index = "Flat";
  std::string faiss_file;  // default: the index file with .faiss for .h5
  std::string faiss_params;
  bool faiss_recall = false;
  int64_t recall_queries = 1000;
};
void add_query_command(CLI::App& app, QueryArgs& args);
int run_query(const QueryArgs& args);

struct ExportArgs {
  std::string checkpoint;
  std::string out;
  std::string data;        // for the input size; default: the checkpoint config's data.path
  int64_t image_size = 0;  // instead of --data
};
void add_export_command(CLI::App& app, ExportArgs& args);
int run_export(const ExportArgs& args);

}  // namespace nsl
