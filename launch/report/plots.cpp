#include "launch/report/plots.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/error.h"

extern char** environ;

namespace nsl::report {
namespace fs = std::filesystem;
namespace {

// A gnuplot single-quoted string: no escapes inside, '' stands for one quote.
std::string gp_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string read_text(const fs::path& file, size_t max_chars) {
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > max_chars) text = "..." + text.substr(text.size() - max_chars);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// Runs argv with stdout and stderr into `log`; returns the exit status, or -1 with the reason in
// `spawn_error` when it could not be started.
int run_logged(const std::vector<std::string>& argv, const fs::path& log, int& spawn_error) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  spawn_error = rc;
  if (rc != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      spawn_error = errno;
      return -1;
    }
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

fs::path find_gnuplot() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const fs::path candidate = fs::path(dir) / "gnuplot";
    if (fs::is_regular_file(candidate) && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw ConfigError(
      "gnuplot not found on PATH: the report's training curves are drawn by gnuplot; install "
      "the Debian package with `apt-get install gnuplot-nox` (or run launch/setup.sh)");
}

std::string curves_data(const RunMetrics& metrics) {
  std::ostringstream out;
  out << "# epoch loss";
  for (int64_t k : metrics.recall_ks) out << " recall@" << k << "(%)";
  out << "\n";
  char buf[64];
  for (const auto& e : metrics.epochs) {
    out << e["epoch"].get<int64_t>();
    const auto loss = metric(e, "loss");
    if (loss) {
      std::snprintf(buf, sizeof buf, " %.6g", *loss);
      out << buf;
    } else {
      out << " ?";
    }
    for (int64_t k : metrics.recall_ks) {
      const auto r = metric(e, "recall@" + std::to_string(k));
      if (r) {
        std::snprintf(buf, sizeof buf, " %.4f", 100.0 * *r);
        out << buf;
      } else {
        out << " ?";
      }
    }
    out << "\n";
  }
  return out.str();
}

std::string curves_script(const RunMetrics& metrics) {
  const std::string data = gp_quote("curves.dat");
  const int64_t last_epoch = metrics.epochs.back()["epoch"].get<int64_t>();
  std::ostringstream gp;
  gp << "# Training curves of " << metrics.file.string() << "; re-draw with: gnuplot curves.gp\n"
     << "set datafile missing '?'\n"
     << "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
     << "  set terminal pngcairo size 600,360 noenhanced font 'DejaVu Sans,10'\n"
     << "} else {\n"
     << "  set terminal png size 600,360\n"
     << "}\n"
     << "set grid\n"
     << "set xlabel 'epoch (0: untrained network)'\n"
     << "set xrange [0:" << std::max<int64_t>(1, last_epoch) << "]\n";
  if (last_epoch <= 20) gp << "set xtics 1\n";
  gp << "set key outside right top\n"
     << "set output " << gp_quote("loss.png") << "\n"
     << "set title 'Training loss'\n"
     << "set ylabel 'loss'\n"
     << "plot " << data << " using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f4fd1' title 'loss'\n"
     << "set output " << gp_quote("recall.png") << "\n"
     << "set title 'Recall@K on the test classes'\n"
     << "set ylabel 'Recall@K (%)'\n";
  if (metrics.recall_ks.empty()) {
    // Nothing to draw: an empty frame says so rather than a missing image.
    gp << "set yrange [0:100]\n"
       << "set label 1 'no recall@K recorded' at graph 0.5, graph 0.5 center\n"
       << "plot NaN notitle\n";
  } else {
    gp << "plot ";
    for (size_t i = 0; i < metrics.recall_ks.size(); ++i) {
      if (i) gp << ", \\\n     ";
      gp << data << " using 1:" << i + 3 << " with linespoints lw " << (i == 0 ? 3 : 1)
         << " pt 7 title 'R@" << metrics.recall_ks[i] << "'";
    }
    gp << "\n";
  }
  gp << "unset output\n";
  return gp.str();
}

PlotFiles write_plots(const RunMetrics& metrics, const fs::path& dir, const fs::path& gnuplot) {
  const fs::path dat = dir / "curves.dat", script = dir / "curves.gp", log = dir / "gnuplot.log";
  std::ofstream(dat) << curves_data(metrics);
  std::ofstream(script) << curves_script(metrics);
  if (!fs::is_regular_file(dat) || !fs::is_regular_file(script)) {
    throw DataError("cannot write the curve files into '" + dir.string() +
                    "': check the free space and permissions of the run folder");
  }
  const std::string cd = "cd " + gp_quote(fs::absolute(dir).string());
  const std::string command =
      gnuplot.string() + " -e \"" + cd + "\" " + fs::absolute(script).string();
  int spawn_error = 0;
  const int rc =
      run_logged({gnuplot.string(), "-e", cd, fs::absolute(script).string()}, log, spawn_error);
  PlotFiles files;
  for (const std::string& png : {files.loss_png, files.recall_png}) {
    const fs::path image = dir / png;
    std::error_code ec;
    if (rc != 0 || !fs::is_regular_file(image) || fs::file_size(image, ec) == 0 || ec) {
      throw Error(kExitRuntime,
                  "`" + command + "` " +
                      (rc < 0 ? std::string("could not be started: ") + std::strerror(spawn_error)
                              : "exited with " + std::to_string(rc)) +
                      (rc == 0 ? " but wrote no " + png : std::string()) + "; its output:\n" +
                      read_text(log, 2000));
    }
  }
  fs::remove(log);
  return files;
}

}  // namespace nsl::report
