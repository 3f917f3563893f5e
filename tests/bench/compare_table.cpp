// The loss-comparison table of tests/bench/compare.sh from the runs' metrics.jsonl files.
//   build/compare_table [--reference NAME] [--plot DATA_FILE] NAME=RUN_DIR...
// For every run: final Recall@1/2/4/8, MAP@R, NMI; the epoch and the training time at which its
// Recall@1 first reaches the reference run's best Recall@1 (triplet's, by default); seconds of
// training per epoch. Training time = steps x global batch / images_per_s summed over the epochs
// (evaluation excluded: it costs every loss the same). With several runs of one NAME (seeds:
// NAME=DIR1 NAME=DIR2 ...), each number is the mean over the runs with the spread
// (max - min) / 2 after a "±". --plot writes "name seconds recall@1" lines for gnuplot.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "train/metrics_file.h"

namespace {

struct Epoch {
  int64_t epoch = 0;
  double train_seconds = 0.0;  // cumulative, after this epoch
  nlohmann::json metrics;
};

std::vector<Epoch> read_run(const std::string& dir, int64_t batch) {
  const nsl::MetricsLines lines = nsl::read_metrics_file(dir + "/metrics.jsonl");
  for (const auto& why : lines.skipped)
    std::fprintf(stderr, "compare_table: left out %s\n", why.c_str());
  std::vector<Epoch> out;
  double total = 0.0;
  for (const auto& j : lines.epochs) {
    const auto e = j.at("epoch").get<int64_t>();
    if (e > 0) {
      const double rate = j.value("images_per_s", 0.0);
      total += rate > 0 ? static_cast<double>(j.value("steps", int64_t{0}) * batch) / rate : 0.0;
    }
    out.push_back({e, total, j});
  }
  if (out.empty()) throw std::runtime_error("no epochs in " + dir + "/metrics.jsonl");
  return out;
}

double metric(const Epoch& e, const char* key) {
  return nsl::metric(e.metrics, key).value_or(std::nan(""));
}

// Over the trained epochs (>= 1): the untrained network's epoch 0 is not a result of the loss.
double best_recall1(const std::vector<Epoch>& run) {
  double best = 0.0;
  for (const auto& e : run) {
    if (e.epoch >= 1) best = std::max(best, metric(e, "recall@1"));
  }
  return best;
}

// First epoch (>= 1) whose Recall@1 reaches `target`.
std::optional<Epoch> first_reaching(const std::vector<Epoch>& run, double target) {
  for (const auto& e : run) {
    if (e.epoch >= 1 && metric(e, "recall@1") >= target) return e;
  }
  return std::nullopt;
}

struct Stat {
  std::vector<double> values;
  std::string text(double scale, int decimals) const {
    std::vector<double> v;
    for (double x : values) {
      if (!std::isnan(x)) v.push_back(x * scale);
    }
    if (v.empty()) return "-";
    double mean = 0.0;
    for (double x : v) mean += x;
    mean /= static_cast<double>(v.size());
    char buf[64];
    if (v.size() == 1 && values.size() == 1) {
      std::snprintf(buf, sizeof buf, "%.*f", decimals, mean);
    } else {
      const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
      std::snprintf(buf, sizeof buf, "%.*f ± %.*f", decimals, mean, decimals, (*hi - *lo) / 2.0);
    }
    std::string s = buf;
    if (v.size() < values.size()) {
      s += " (" + std::to_string(v.size()) + "/" + std::to_string(values.size()) + ")";
    }
    return s;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string reference = "triplet";
  std::string plot;
  int64_t batch = 64;
  std::vector<std::pair<std::string, std::string>> runs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reference" && i + 1 < argc) {
      reference = argv[++i];
    } else if (a == "--plot" && i + 1 < argc) {
      plot = argv[++i];
    } else if (a == "--batch" && i + 1 < argc) {
      batch = std::stoll(argv[++i]);
    } else if (a.find('=') != std::string::npos) {
      runs.emplace_back(a.substr(0, a.find('=')), a.substr(a.find('=') + 1));
    } else {
      std::fprintf(stderr,
                   "usage: compare_table [--reference NAME] [--batch B] [--plot FILE] "
                   "NAME=RUN_DIR...\n");
      return 2;
    }
  }
  try {
    std::vector<std::string> names;
    std::map<std::string, std::vector<std::vector<Epoch>>> by_name;
    for (const auto& [name, dir] : runs) {
      if (!by_name.count(name)) names.push_back(name);
      by_name[name].push_back(read_run(dir, batch));
    }
    if (!by_name.count(reference)) throw std::runtime_error("no run named '" + reference + "'");
    // The reference target: the mean over the reference's runs of their best Recall@1.
    double target = 0.0;
    for (const auto& run : by_name[reference]) target += best_recall1(run);
    target /= static_cast<double>(by_name[reference].size());

    std::printf(
        "| loss | runs | R@1 %% | R@2 %% | R@4 %% | R@8 %% | MAP@R %% | NMI %% | best R@1 %% | "
        "epochs to %s's best R@1 (%.2f %%) | training s to it | training s / epoch |\n",
        reference.c_str(), 100.0 * target);
    std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    std::ofstream plot_out;
    if (!plot.empty()) plot_out.open(plot);
    for (const std::string& name : names) {
      Stat r1, r2, r4, r8, map, nmi, best, epochs, seconds, per_epoch;
      for (const auto& run : by_name[name]) {
        const Epoch& last = run.back();
        r1.values.push_back(metric(last, "recall@1"));
        r2.values.push_back(metric(last, "recall@2"));
        r4.values.push_back(metric(last, "recall@4"));
        r8.values.push_back(metric(last, "recall@8"));
        map.values.push_back(metric(last, "map@r"));
        nmi.values.push_back(metric(last, "nmi"));
        best.values.push_back(best_recall1(run));
        const auto hit = first_reaching(run, target - 1e-12);
        epochs.values.push_back(hit ? static_cast<double>(hit->epoch) : std::nan(""));
        seconds.values.push_back(hit ? hit->train_seconds : std::nan(""));
        per_epoch.values.push_back(last.epoch > 0 ? last.train_seconds / last.epoch : std::nan(""));
        if (plot_out) {
          for (const auto& e : run) {
            plot_out << name << " " << e.train_seconds << " " << 100.0 * metric(e, "recall@1")
                     << "\n";
          }
          plot_out << "\n\n";
        }
      }
      std::printf("| %s | %zu | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name.c_str(),
                  by_name[name].size(), r1.text(100, 2).c_str(), r2.text(100, 2).c_str(),
                  r4.text(100, 2).c_str(), r8.text(100, 2).c_str(), map.text(100, 2).c_str(),
                  nmi.text(100, 2).c_str(), best.text(100, 2).c_str(), epochs.text(1, 1).c_str(),
                  seconds.text(1, 0).c_str(), per_epoch.text(1, 1).c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "compare_table: %s\n", e.what());
    return 1;
  }
  return 0;
}
