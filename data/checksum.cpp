#include "data/checksum.h"

#include <cstdio>
#include <fstream>
#include <vector>

#include "common/error.h"

namespace nsl {

std::string file_checksum(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("cannot open '" + path + "' to compute its checksum");
  std::vector<char> block(size_t{1} << 20);
  uint64_t hash = kFnv1a64Offset;
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    const std::streamsize got = in.gcount();
    if (got > 0) hash = fnv1a64(block.data(), static_cast<size_t>(got), hash);
  }
  if (in.bad()) throw DataError("read error in '" + path + "' while computing its checksum");
  return hex64(hash);
}

}  // namespace nsl
