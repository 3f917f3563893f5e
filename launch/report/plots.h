#pragma once
// nsl_dist report: the training curves, drawn by gnuplot (Debian package gnuplot-nox) from a data
// file and a script written next to the images, so they can be re-drawn or restyled by hand.
#include <filesystem>
#include <string>

#include "launch/report/report_data.h"

namespace nsl::report {

struct PlotFiles {
  std::string loss_png = "loss.png";      // loss per epoch, relative to the report folder
  std::string recall_png = "recall.png";  // Recall@K per epoch (%)
};

// The gnuplot executable found on PATH. Throws ConfigError saying how to install it when there is
// none.
std::filesystem::path find_gnuplot();

// The data file (epoch, loss, Recall@K in %; "?" where missing) and the gnuplot script for
// `metrics`. The script names its files relative to the folder it runs in (the report folder), so
// it still works after that folder is renamed: `cd RUN/report && gnuplot curves.gp`.
std::string curves_data(const RunMetrics& metrics);
std::string curves_script(const RunMetrics& metrics);

// Writes dir/curves.dat and dir/curves.gp, runs `gnuplot curves.gp` (pngcairo terminal, png when
// gnuplot lacks cairo) and checks that both images exist and are not empty. Throws Error naming
// the gnuplot command and its output when it fails.
PlotFiles write_plots(const RunMetrics& metrics, const std::filesystem::path& dir,
                      const std::filesystem::path& gnuplot);

}  // namespace nsl::report
