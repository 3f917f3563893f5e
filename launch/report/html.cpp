#include "launch/report/html.h"

#include <cmath>
#include <cstdio>
#include <sstream>

namespace nsl::report {
namespace {

// Frame colours: pure enough to be told apart from the (mostly grey) images in a screenshot.
constexpr const char* kStyle = R"(
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 28px; }
.meta { color: #555; font-size: 13px; }
table.metrics { border-collapse: collapse; font-size: 13px; }
table.metrics th, table.metrics td { border: 1px solid #bbb; padding: 3px 9px; text-align: right; }
table.metrics th { background: #eef1f6; }
.na { color: #999; }
#curves img { margin-right: 12px; border: 1px solid #ddd; }
.row { display: flex; align-items: flex-start; gap: 6px; margin-bottom: 8px; }
figure { margin: 0; width: 112px; text-align: center; font-size: 11px; }
figure img { border: 5px solid #ccc; image-rendering: pixelated; }
figure.query img { border-color: rgb(30, 80, 220); }
figure.hit img { border-color: rgb(0, 170, 0); }
figure.miss img { border-color: rgb(225, 0, 0); }
figcaption { overflow-wrap: anywhere; }
.score { color: #555; }
.sep { width: 14px; }
#image-check.ok { color: rgb(0, 120, 0); }
#image-check.bad { color: rgb(200, 0, 0); font-weight: bold; }
pre { background: #f6f6f6; padding: 8px; font-size: 12px; }
)";

constexpr const char* kImageCheck = R"(
window.addEventListener("load", function () {
  var images = document.images, failed = [];
  for (var i = 0; i < images.length; i++) {
    if (!images[i].complete || images[i].naturalWidth === 0) failed.push(images[i].getAttribute("src"));
  }
  var check = document.getElementById("image-check");
  if (failed.length === 0) {
    check.textContent = "all " + images.length + " images loaded";
    check.className = "ok";
  } else {
    check.textContent = failed.length + " of " + images.length + " images failed to load: " + failed.join(", ");
    check.className = "bad";
  }
});
)";

std::string fixed(double value, const char* format) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  return buf;
}

std::string na() { return "<span class=\"na\" title=\"not recorded by this run\">n/a</span>"; }

std::string percent_cell(const nlohmann::json& e, const std::string& key) {
  const auto v = metric(e, key);
  return "<td>" + (v && std::isfinite(*v) ? fixed(100.0 * *v, "%.2f") : na()) + "</td>";
}

std::string number_cell(const nlohmann::json& e, const std::string& key, const char* format) {
  const auto v = metric(e, key);
  return "<td>" + (v && std::isfinite(*v) ? fixed(*v, format) : na()) + "</td>";
}

struct Column {
  std::string key, title;
  bool percent;
  const char* format;
};

// Recall@K, then MAP@R, R-Precision and NMI: the retrieval metrics of METHOD.md section 6.
std::vector<Column> metric_columns(const RunMetrics& m, bool optional_always) {
  std::vector<Column> cols;
  for (int64_t k : m.recall_ks) {
    cols.push_back({"recall@" + std::to_string(k), "R@" + std::to_string(k) + " (%)", true, ""});
  }
  const Column extra[] = {{"map@r", "MAP@R (%)", true, ""},
                          {"r_precision", "R-Precision (%)", true, ""},
                          {"nmi", "NMI (%)", true, ""}};
  for (const Column& c : extra) {
    if (optional_always || any_epoch_has(m, c.key)) cols.push_back(c);
  }
  return cols;
}

std::string cell(const nlohmann::json& e, const Column& c) {
  return c.percent ? percent_cell(e, c.key) : number_cell(e, c.key, c.format);
}

void results_table(std::ostringstream& h, const RunMetrics& m) {
  const nlohmann::json& last = m.epochs.back();
  const std::vector<Column> cols = metric_columns(m, /*optional_always=*/true);
  h << "<table class=\"metrics\" id=\"results\">\n<tr><th>epoch</th>";
  for (const Column& c : cols) h << "<th>" << html_escape(c.title) << "</th>";
  h << "<th>queries</th><th>lone queries</th></tr>\n<tr><td>" << last["epoch"].get<int64_t>()
    << "</td>";
  for (const Column& c : cols) h << cell(last, c);
  h << number_cell(last, "queries", "%.0f") << number_cell(last, "lone_queries", "%.0f")
    << "</tr>\n";
  if (m.epochs.size() > 1) {
    const nlohmann::json& first = m.epochs.front();
    h << "<tr class=\"meta\"><td>" << first["epoch"].get<int64_t>() << " (untrained)</td>";
    for (const Column& c : cols) h << cell(first, c);
    h << number_cell(first, "queries", "%.0f") << number_cell(first, "lone_queries", "%.0f")
      << "</tr>\n";
  }
  h << "</table>\n";
}

void epochs_table(std::ostringstream& h, const RunMetrics& m) {
  const std::vector<Column> cols = metric_columns(m, /*optional_always=*/false);
  h << "<table class=\"metrics\" id=\"epochs\">\n<tr><th>epoch</th><th>loss</th>";
  for (const Column& c : cols) h << "<th>" << html_escape(c.title) << "</th>";
  h << "<th>images/s</th><th>seconds</th><th>steps</th><th>idle batches</th></tr>\n";
  for (const nlohmann::json& e : m.epochs) {
    h << "<tr><td>" << e["epoch"].get<int64_t>() << "</td>" << number_cell(e, "loss", "%.4f");
    for (const Column& c : cols) h << cell(e, c);
    h << number_cell(e, "images_per_s", "%.1f") << number_cell(e, "seconds", "%.1f")
      << number_cell(e, "steps", "%.0f") << number_cell(e, "idle_batches", "%.0f") << "</tr>\n";
  }
  h << "</table>\n";
}

void figure(std::ostringstream& h, const GalleryImage& img, const char* kind,
            const std::string& caption, const std::string& score) {
  h << "<figure class=\"" << kind << "\"><img src=\"" << html_escape(img.thumb) << "\" alt=\""
    << html_escape(std::string(kind) + " " + std::to_string(img.index) + ", " + img.class_name)
    << "\"><figcaption>" << caption;
  if (!score.empty()) h << "<br><span class=\"score\">" << score << "</span>";
  h << "</figcaption></figure>";
}

void gallery_section(std::ostringstream& h, const Gallery& g) {
  int64_t hits = 0, top1 = 0;
  for (const GalleryRow& row : g.rows) {
    for (const GalleryImage& n : row.neighbours) hits += n.correct;
    top1 += !row.neighbours.empty() && row.neighbours.front().correct;
  }
  const auto shown = static_cast<int64_t>(g.rows.size());
  h << "<p class=\"meta\">" << shown << " queries sampled from the " << g.eligible << " of "
    << g.split_size << " images of split '" << html_escape(g.split)
    << "' whose class has another image; each against the rest of the split (itself excluded), "
       "top "
    << g.k << " by cosine similarity. Frames: <span style=\"color: rgb(0,150,0)\">green</span> "
    << "same class as the query, <span style=\"color: rgb(225,0,0)\">red</span> another class, "
    << "<span style=\"color: rgb(30,80,220)\">blue</span> the query. Correct first neighbours: "
    << top1 << " / " << shown << "; correct among all shown: " << hits << " / " << shown * g.k
    << ".</p>\n<div id=\"gallery\">\n";
  for (const GalleryRow& row : g.rows) {
    h << "<div class=\"row\">";
    figure(h, row.query, "query",
           "<b>query</b> #" + std::to_string(row.query.index) + "<br>" +
               html_escape(row.query.class_name),
           "");
    h << "<div class=\"sep\"></div>";
    for (size_t j = 0; j < row.neighbours.size(); ++j) {
      const GalleryImage& n = row.neighbours[j];
      figure(h, n, n.correct ? "hit" : "miss",
             std::to_string(j + 1) + ". " + html_escape(n.class_name), fixed(n.score, "%.4f"));
    }
    h << "</div>\n";
  }
  h << "</div>\n";
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_html(const ReportPage& p) {
  std::ostringstream h;
  const RunMetrics& m = p.metrics;
  const int64_t last_epoch = m.epochs.back()["epoch"].get<int64_t>();
  // A checkpoint records the position training continues from: (epoch e, step 0) holds the
  // weights at the end of epoch e - 1.
  const int64_t done = p.checkpoint_epoch - 1;
  const std::string state = p.checkpoint_step == 0
                                ? "after epoch " + std::to_string(done)
                                : "epoch " + std::to_string(p.checkpoint_epoch) + ", step " +
                                      std::to_string(p.checkpoint_step);
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<title>nsl_dist report: " << html_escape(p.run_dir) << "</title>\n<style>" << kStyle
    << "</style>\n<script>" << kImageCheck << "</script>\n</head>\n<body>\n"
    << "<h1>nsl_dist report: " << html_escape(p.run_dir) << "</h1>\n"
    << "<p class=\"meta\">" << m.epochs.size() << " epoch record(s) in metrics.jsonl (epoch 0: "
    << "the untrained network); gallery network: checkpoint " << html_escape(p.checkpoint) << " ("
    << state << "); config hash " << html_escape(p.config_hash) << "; dataset "
    << html_escape(p.dataset_dir) << ".</p>\n"
    << "<p id=\"image-check\" class=\"meta\">image check did not run (JavaScript off?)</p>\n";
  for (const std::string& note : p.notes) {
    h << "<p class=\"meta\">note: " << html_escape(note) << "</p>\n";
  }
  if (p.checkpoint_step != 0 || done != last_epoch) {
    h << "<p class=\"meta\">note: the gallery's network (" << state
      << ") is not the one of the newest metrics (epoch " << last_epoch << ").</p>\n";
  }
  h << "<h2>Results (epoch " << last_epoch << ", unseen test classes)</h2>\n";
  results_table(h, m);
  h << "<h2>Training curves</h2>\n<div id=\"curves\"><img src=\"" << html_escape(p.plots.loss_png)
    << "\" alt=\"loss per epoch\"><img src=\"" << html_escape(p.plots.recall_png)
    << "\" alt=\"Recall@K per epoch\"></div>\n"
    << "<h2>Retrieval gallery</h2>\n";
  gallery_section(h, p.gallery);
  h << "<h2>Per epoch</h2>\n";
  epochs_table(h, m);
  h << "<h2>Configuration</h2>\n<details><summary>the run's resolved configuration</summary><pre>"
    << html_escape(p.config_text) << "</pre></details>\n</body>\n</html>\n";
  return h.str();
}

}  // namespace nsl::report
