#pragma once
// Content checksum of dataset files, recorded in manifest.json and checked by verify_dataset().
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/fnv.h"

namespace nsl {

// FNV-1a 64-bit over the file's bytes (read in 1 MiB blocks), as 16 lowercase hex characters.
// Throws DataError naming the file if it cannot be read.
std::string file_checksum(const std::string& path);

}  // namespace nsl
