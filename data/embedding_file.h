#pragma once
// The embeddings file written by `nsl_dist embed` and read by `nsl_dist query`: one split of a
// dataset embedded by one checkpoint. HDF5 (format "nsl_dist.embeddings", version 1):
//   /embeddings   float32 [N, d]  unit rows; row i is sample i of the split (global index order)
//   /labels       int64 [N]       class id within the split
//   /indices      int64 [N]       global sample index within the split
//   /paths        vlen UTF-8 [N]  the sample's path as stored in the shard (the annotation path)
//   /class_names  vlen UTF-8 [C]  class id -> the split's class name (C may be 0: none known)
//   root attributes (strings unless noted): format, version (int), split, dataset (manifest name),
//   dataset_path (absolute), source_root (the images' root folder for `prep` datasets, else ""),
//   checkpoint (absolute folder), epoch, step, global_step (ints: the checkpoint's position, so a
//   checkpoint written at epoch e's end says epoch e + 1, step 0), config_hash, weights_fnv1a64
//   ("" when the checkpoint has none), embedding_dim (int), image_size (int), channels (int),
//   bbox_crop (int 0/1), embeddings_fnv1a64 (fingerprint of /embeddings' bytes, checked on read).
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace nsl {

inline constexpr const char* kEmbeddingFormat = "nsl_dist.embeddings";
inline constexpr int64_t kEmbeddingVersion = 1;

struct EmbeddingFile {
  torch::Tensor embeddings;  // float32 [N, d], CPU, contiguous
  torch::Tensor labels;      // int64 [N]
  torch::Tensor indices;     // int64 [N]
  std::vector<std::string> paths;
  std::vector<std::string> class_names;
  std::string split;
  std::string dataset;
  std::string dataset_path;
  std::string source_root;
  std::string checkpoint;
  int64_t epoch = 0;
  int64_t step = 0;
  int64_t global_step = 0;
  std::string config_hash;
  std::string weights_fnv1a64;
  int64_t image_size = 0;
  int64_t channels = 0;
  bool bbox_crop = false;
  std::string fingerprint;  // embeddings_fnv1a64; filled in by write and read

  int64_t size() const { return embeddings.defined() ? embeddings.size(0) : 0; }
  int64_t dim() const { return embeddings.defined() ? embeddings.size(1) : 0; }
  // The class name of a label, or its number when no names are known.
  std::string label_name(int64_t label) const;
};

// FNV-1a 64 of the float32 bytes of a contiguous [N, d] tensor, as 16 hex digits.
std::string embeddings_fingerprint(const torch::Tensor& embeddings);

// Writes `file` to `path` atomically: `path`.tmp-<pid> is written, flushed and fsynced, then
// renamed over `path`. Sets file.fingerprint. Throws std::invalid_argument when the fields are
// inconsistent (shapes, lengths, labels outside the class names), DataError when the file cannot
// be written (naming it).
void write_embedding_file(const std::string& path, EmbeddingFile& file);

// Reads and validates every dataset and attribute; throws DataError naming the file, the problem
// and what to do (re-run nsl_dist embed).
EmbeddingFile read_embedding_file(const std::string& path);

}  // namespace nsl
