#include "eval/evaluate_model.h"

#include "eval/embed.h"

namespace nsl {

RetrievalMetrics evaluate_model(Communicator& comm, EmbeddingNet& net, EvalSource& test,
                                EvalSource* gallery, const Config& config) {
  auto embed = [&](EvalSource& source) {
    const SplitEmbeddings all =
        gather_embeddings(comm, embed_local(net, source, config.eval.batch_size));
    return EvalSet{all.unit, all.labels};
  };
  const EvalSet queries = embed(test);
  if (gallery == nullptr) return evaluate_retrieval(comm, queries, nullptr, eval_options(config));
  const EvalSet gallery_set = embed(*gallery);
  return evaluate_retrieval(comm, queries, &gallery_set, eval_options(config));
}

}  // namespace nsl
