#include "data/eval_sources.h"

#include "eval/evaluator.h"

namespace nsl {

EvalTransform eval_transform(const Config& c) {
  EvalTransform t;
  t.resize_ratio = c.data.eval_resize_ratio;
  return t;
}

EvalSplits open_eval_splits(const Config& c, const Manifest& manifest, int64_t rank,
                            int64_t world_size) {
  const EvalTransform transform = eval_transform(c);
  EvalSplits splits;
  splits.test = std::make_unique<ShardEvalSource>(c.data.path, manifest, c.data.test_split, rank,
                                                  world_size, transform);
  if (!c.data.gallery_split.empty()) {
    splits.gallery = std::make_unique<ShardEvalSource>(c.data.path, manifest, c.data.gallery_split,
                                                       rank, world_size, transform);
  }
  return splits;
}

std::vector<int64_t> resolve_recall_k(const Config& c, const Manifest& manifest) {
  if (!c.eval.recall_k.empty()) return c.eval.recall_k;
  return default_recall_k(manifest.source.value("dataset", ""));
}

}  // namespace nsl
