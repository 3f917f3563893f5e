#include "data/dataset_info.h"

#include "data/h5_handle.h"

namespace nsl {

std::string hdf5_version_string() {
  unsigned major = 0, minor = 0, release = 0;
  const auto guard = h5::lock();
  if (H5get_libversion(&major, &minor, &release) < 0) return "unknown";
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(release);
}

}  // namespace nsl
