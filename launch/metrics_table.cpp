#include "launch/metrics_table.h"

#include <cmath>
#include <cstdio>

namespace nsl {

void print_retrieval_table(const std::vector<std::pair<std::string, RetrievalMetrics>>& rows) {
  if (rows.empty()) return;
  const RetrievalMetrics& last = rows.back().second;
  std::printf(
      "\nRetrieval on the unseen test classes (%lld queries against %lld gallery images; "
      "%lld queries without a same-class gallery image left out)\n",
      static_cast<long long>(last.queries), static_cast<long long>(last.gallery),
      static_cast<long long>(last.lone_queries));
  std::printf("%-12s", "");
  for (int64_t k : last.ks) std::printf("  R@%-5lld", static_cast<long long>(k));
  std::printf("  %-7s  %-7s  %-7s\n", "MAP@R", "R-Prec", "NMI");
  for (const auto& [label, m] : rows) {
    std::printf("%-12s", label.c_str());
    for (double r : m.recall) std::printf("  %6.2f%%", 100.0 * r);
    std::printf("  %6.2f%%  %6.2f%%", 100.0 * m.map_at_r, 100.0 * m.r_precision);
    if (std::isnan(m.nmi)) {
      std::printf("  %7s\n", "-");
    } else {
      std::printf("  %6.2f%%\n", 100.0 * m.nmi);
    }
  }
  std::fflush(stdout);
}

}  // namespace nsl
