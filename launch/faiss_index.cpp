#include "launch/faiss_index.h"

#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <limits>
#include <system_error>

#include "common/atomic_file.h"
#include "common/error.h"

namespace nsl {

namespace {

namespace fs = std::filesystem;

torch::Tensor as_rows(const torch::Tensor& t) {
  if (t.dim() != 2) throw std::invalid_argument("FAISS: expected a [n, d] matrix");
  return t.to(torch::kFloat32).cpu().contiguous();
}

std::string sidecar(const std::string& file) { return file + ".json"; }

}  // namespace

FaissIndex::FaissIndex(std::unique_ptr<faiss::Index> index) : index_(std::move(index)) {}
FaissIndex::FaissIndex(FaissIndex&&) noexcept = default;
FaissIndex& FaissIndex::operator=(FaissIndex&&) noexcept = default;
FaissIndex::~FaissIndex() = default;

int64_t FaissIndex::size() const { return index_->ntotal; }
int64_t FaissIndex::dim() const { return index_->d; }

FaissIndex FaissIndex::build(const torch::Tensor& vectors, const std::string& factory) {
  const torch::Tensor x = as_rows(vectors);
  const int64_t n = x.size(0), d = x.size(1);
  std::unique_ptr<faiss::Index> index;
  try {
    index.reset(
        faiss::index_factory(static_cast<int>(d), factory.c_str(), faiss::METRIC_INNER_PRODUCT));
  } catch (const faiss::FaissException& e) {
    throw ConfigError("--faiss-index '" + factory +
                      "' is not an index FAISS can build (faiss::index_factory: " + e.what() +
                      "); try Flat, IVF64,Flat or HNSW32");
  }
  try {
    if (!index->is_trained) index->train(n, x.data_ptr<float>());
    index->add(n, x.data_ptr<float>());
  } catch (const faiss::FaissException& e) {
    throw DataError("FAISS could not build '" + factory + "' over " + std::to_string(n) +
                    " embeddings of dimension " + std::to_string(d) + ": " + e.what() +
                    "; choose a smaller index (fewer IVF lists) or Flat");
  }
  return FaissIndex(std::move(index));
}

FaissIndex FaissIndex::load(const std::string& file) {
  try {
    return FaissIndex(std::unique_ptr<faiss::Index>(faiss::read_index(file.c_str())));
  } catch (const faiss::FaissException& e) {
    throw DataError("cannot read the FAISS index '" + file + "': " + e.what() +
                    "; delete it and it is rebuilt");
  }
}

void FaissIndex::save(const std::string& file) const {
  write_file_atomically(
      file,
      [&](const fs::path& tmp) {
        try {
          faiss::write_index(index_.get(), tmp.c_str());
        } catch (const faiss::FaissException& e) {
          throw DataError("cannot write the FAISS index '" + tmp.string() + "': " + e.what() +
                          "; choose another --faiss-file");
        }
      },
      kExitData);
}

void FaissIndex::set_parameters(const std::string& parameters) {
  if (parameters.empty()) return;
  try {
    faiss::ParameterSpace().set_index_parameters(index_.get(), parameters.c_str());
  } catch (const faiss::FaissException& e) {
    throw ConfigError("--faiss-params '" + parameters +
                      "' do not apply to this index: " + e.what());
  }
}

Neighbours FaissIndex::search(const torch::Tensor& queries, int64_t k) const {
  const torch::Tensor q = as_rows(queries);
  if (q.size(1) != index_->d)
    throw std::invalid_argument("FAISS search: queries of dimension " + std::to_string(q.size(1)) +
                                " in an index of dimension " + std::to_string(index_->d));
  Neighbours out;
  out.indices = torch::empty({q.size(0), k}, torch::kInt64);
  out.scores = torch::empty({q.size(0), k}, torch::kFloat32);
  static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t), "faiss ids are 64-bit");
  try {
    index_->search(q.size(0), q.data_ptr<float>(), k, out.scores.data_ptr<float>(),
                   reinterpret_cast<faiss::Index::idx_t*>(out.indices.data_ptr<int64_t>()));
  } catch (const faiss::FaissException& e) {
    throw DataError(std::string("FAISS search failed: ") + e.what());
  }
  // Places FAISS could not fill: -1 ids; make their scores unmistakable.
  out.scores.masked_fill_(out.indices < 0, -std::numeric_limits<float>::infinity());
  return out;
}

FaissIndex open_or_build_faiss(const std::string& file, const torch::Tensor& vectors,
                               const FaissSource& source, std::string* note) {
  const nlohmann::json want = {{"rows", source.rows},
                               {"dim", source.dim},
                               {"embeddings_fnv1a64", source.fingerprint},
                               {"factory", source.factory}};
  std::string why;
  if (!fs::exists(file)) {
    why = "none cached";
  } else if (!fs::exists(sidecar(file))) {
    why = "'" + sidecar(file) + "' is missing";
  } else {
    nlohmann::json have;
    try {
      std::ifstream(sidecar(file)) >> have;
    } catch (const nlohmann::json::exception&) {
      have = nlohmann::json::object();
    }
    for (const auto& item : want.items()) {
      if (!have.contains(item.key()) || have[item.key()] != item.value()) {
        why = "the cached one was built from " + item.key() + " " +
              (have.contains(item.key()) ? have[item.key()].dump() : std::string("(unknown)")) +
              ", now " + item.value().dump();
        break;
      }
    }
    if (why.empty()) {
      FaissIndex index = FaissIndex::load(file);
      if (index.size() == source.rows && index.dim() == source.dim) {
        if (note) *note = "loaded FAISS index '" + file + "' (" + source.factory + ")";
        return index;
      }
      why = "'" + file + "' holds " + std::to_string(index.size()) + " x " +
            std::to_string(index.dim()) + " vectors";
    }
  }
  FaissIndex index = FaissIndex::build(vectors, source.factory);
  std::error_code ignored;
  fs::remove(sidecar(file), ignored);  // never a sidecar that vouches for another index
  index.save(file);
  write_text_atomically(sidecar(file), want.dump(2) + "\n", kExitData);
  if (note)
    *note = "built FAISS index " + source.factory + " and saved it to '" + file + "' (" + why + ")";
  return index;
}

}  // namespace nsl
