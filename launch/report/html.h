#pragma once
// nsl_dist report: the page itself, RUN/report/index.html. Every image is referenced by a relative
// path, so the report folder can be moved or copied as a whole; every text is HTML-escaped.
#include <filesystem>
#include <string>
#include <vector>

#include "launch/report/gallery.h"
#include "launch/report/plots.h"
#include "launch/report/report_data.h"

namespace nsl::report {

struct ReportPage {
  std::string run_dir;
  std::string checkpoint;         // the checkpoint folder the gallery's network came from
  int64_t checkpoint_epoch = -1;  // the epoch the checkpoint's position is in (manifest info)
  int64_t checkpoint_step = 0;    // steps into it; 0: written at the end of the epoch before
  std::string config_hash;
  std::string config_text;
  std::string dataset_dir;
  std::vector<std::string> notes;  // e.g. damaged checkpoints skipped
  RunMetrics metrics;
  PlotFiles plots;
  Gallery gallery;
};

// &, <, >, " and ' as character references.
std::string html_escape(const std::string& text);

// The whole page. Element ids the tests rely on: results (the final epoch's table), epochs (the
// per-epoch table), curves, gallery, image-check (filled after the load event: "all N images
// loaded", or how many and which failed).
std::string render_html(const ReportPage& page);

}  // namespace nsl::report
