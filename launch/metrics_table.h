#pragma once
// The retrieval results table printed by `train` (untrained vs trained) and `eval`.
#include <string>
#include <utility>
#include <vector>

#include "eval/evaluator.h"

namespace nsl {

// One row per (label, metrics): Recall@K for the first row's Ks, MAP@R, R-Precision and NMI, with
// a heading line counting the queries (and the lone ones left out).
void print_retrieval_table(const std::vector<std::pair<std::string, RetrievalMetrics>>& rows);

}  // namespace nsl
