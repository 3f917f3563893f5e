#pragma once
// A reader for the .safetensors format (the format timm and other hubs distribute weights in),
// written from its specification: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the raw
// little-endian tensor bytes, offsets relative to the end of the header. F32, F16 and BF16 are read
// (returned as float32); anything else is a clear error.
#include <torch/torch.h>

#include <map>
#include <string>

namespace nsl {

// Every tensor of the file by name, as float32; DataError naming the file on any defect.
std::map<std::string, torch::Tensor> read_safetensors(const std::string& path);

// Writes float32 tensors (any shape, scalars included) to `path` as one .safetensors file: the
// header lists them in name order, their bytes follow in the same order, and `metadata` goes under
// "__metadata__" (string values, as the format requires). The caller makes the write atomic
// (common/atomic_file.h). Error naming the file on an I/O failure; std::invalid_argument for a
// tensor that is not float32 or a repeated name.
void write_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// torchvision / timm ResNet key -> this project's backbone key: strips "module." and "model."
// prefixes (DataParallel and hub wrappers); the layer names themselves are identical.
std::string map_resnet_key(const std::string& key);

struct LoadReport {
  int64_t loaded = 0;
  std::vector<std::string> ignored;  // file keys the model has no use for (the classifier "fc.*")
};

// Copies the file's tensors into `module`'s parameters and buffers by (mapped) name. Every missing,
// unexpected or mis-shaped key is listed in one DataError; a classifier ("fc.*") and the embedding
// head of an `nsl_dist export` ("head.*", "ns.*", "centering_mean") are ignored (reported), so an
// export's model.safetensors serves as pretrained backbone weights too.
LoadReport load_pretrained(torch::nn::Module& module, const std::string& path);

}  // namespace nsl
