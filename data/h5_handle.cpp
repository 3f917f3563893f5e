#include "data/h5_handle.h"

#include "common/error.h"

namespace nsl::h5 {

bool Handle::reset() noexcept {
  if (id_ < 0) return true;
  herr_t status = -1;
  switch (kind_) {
    case Kind::kFile:
      status = H5Fclose(id_);
      break;
    case Kind::kGroup:
      status = H5Gclose(id_);
      break;
    case Kind::kDataset:
      status = H5Dclose(id_);
      break;
    case Kind::kDataspace:
      status = H5Sclose(id_);
      break;
    case Kind::kDatatype:
      status = H5Tclose(id_);
      break;
    case Kind::kPropList:
      status = H5Pclose(id_);
      break;
    case Kind::kAttribute:
      status = H5Aclose(id_);
      break;
  }
  id_ = H5I_INVALID_HID;
  return status >= 0;
}

void silence_errors() {
  static const bool done = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)done;
}

namespace {
[[noreturn]] void fail(const std::string& what, const std::string& file) {
  throw DataError("HDF5: " + what + " failed for '" + file +
                  "'; check that the file exists, is readable and is a complete nsl_dist shard "
                  "(re-run the converter if it was truncated)");
}
}  // namespace

Handle check(hid_t id, Kind kind, const std::string& what, const std::string& file) {
  if (id < 0) fail(what, file);
  return Handle(id, kind);
}

void check(herr_t status, const std::string& what, const std::string& file) {
  if (status < 0) fail(what, file);
}

void close_checked(Handle& handle, const std::string& what, const std::string& file) {
  if (!handle.reset()) fail(what, file);
}

}  // namespace nsl::h5
