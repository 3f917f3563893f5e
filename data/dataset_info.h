#pragma once
#include <string>

namespace nsl {

// The linked HDF5 library's version, e.g. "1.10.8".
std::string hdf5_version_string();

}  // namespace nsl
