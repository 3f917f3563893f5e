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

// torchvision / timm ResNet key -> this project's backbone key: strips "module." and "model."
// prefixes (DataParallel and hub wrappers); the layer names themselves are identical.
std::string map_resnet_key(const std::string& key);

struct LoadReport {
  int64_t loaded = 0;
  std::vector<std::string> ignored;  // file keys the model has no use for (the classifier "fc.*")
};

// Copies the file's tensors into `module`'s parameters and buffers by (mapped) name. Every missing,
// unexpected or mis-shaped key is listed in one DataError; "fc.*" is ignored (reported).
LoadReport load_pretrained(torch::nn::Module& module, const std::string& path);

}  // namespace nsl
