#pragma once
// A FAISS index over unit embeddings, searched by inner product (= cosine), for `nsl_dist query
// --faiss`. Only faiss_index.cpp includes FAISS's headers; the rest of nsl_dist sees this class.
//
// Cache: the index is saved to a file FILE (FAISS's own format) next to a sidecar FILE.json
// recording what it was built from: the embeddings' row count, dimension and fingerprint
// (embeddings_fnv1a64 of the embeddings file) and the factory string. open_or_build reuses FILE
// only when all four agree, and rebuilds (and rewrites both files) otherwise.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "eval/nearest.h"

namespace faiss {
struct Index;
}

namespace nsl {

class FaissIndex {
 public:
  // Builds the index `factory` (faiss::index_factory syntax: "Flat", "IVF64,Flat", "HNSW32", ...)
  // with the inner-product metric, trains it on `vectors` when it needs training, adds them.
  // Throws ConfigError for a factory string FAISS does not accept, DataError when FAISS fails on
  // the data (e.g. fewer vectors than IVF lists).
  static FaissIndex build(const torch::Tensor& vectors, const std::string& factory);
  // Throws DataError naming the file when FAISS cannot read it.
  static FaissIndex load(const std::string& file);

  FaissIndex(FaissIndex&&) noexcept;
  FaissIndex& operator=(FaissIndex&&) noexcept;
  ~FaissIndex();

  // Writes atomically (FILE.tmp-<pid>, then rename). Throws DataError when it cannot.
  void save(const std::string& file) const;
  // Search-time parameters in faiss::ParameterSpace syntax, e.g. "nprobe=16" or "efSearch=128".
  // Throws ConfigError when FAISS rejects them.
  void set_parameters(const std::string& parameters);
  // The k best rows for each query (float32 [q, d]); an index that finds fewer than k gives -1
  // indices (and -inf scores) in the remaining places.
  Neighbours search(const torch::Tensor& queries, int64_t k) const;

  int64_t size() const;
  int64_t dim() const;

 private:
  explicit FaissIndex(std::unique_ptr<faiss::Index> index);
  std::unique_ptr<faiss::Index> index_;
};

// What a cached index must match.
struct FaissSource {
  int64_t rows = 0;
  int64_t dim = 0;
  std::string fingerprint;  // the embeddings file's embeddings_fnv1a64
  std::string factory;
};

// The index cached at `file` when its sidecar `file`.json matches `source`, else a new one built
// from `vectors` and saved there. `note` (when given) says which, and why a cached file was not
// used.
FaissIndex open_or_build_faiss(const std::string& file, const torch::Tensor& vectors,
                               const FaissSource& source, std::string* note = nullptr);

}  // namespace nsl
