#include "data/h5_handle.h"

#include "common/error.h"

namespace nsl::h5 {

std::recursive_mutex& mutex() {
  static std::recursive_mutex m;
  return m;
}

bool Handle::reset() noexcept {
  if (id_ < 0) return true;
  const auto guard = lock();
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
    silence_errors_on_this_thread();
    return true;
  }();
  (void)done;
}

void silence_errors_on_this_thread() {
  const auto guard = lock();
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

namespace {

herr_t keep_innermost(unsigned n, const H5E_error2_t* error, void* out) {
  if (n == 0 && error->desc != nullptr) *static_cast<std::string*>(out) = error->desc;
  return 0;
}

// The innermost entry of this thread's HDF5 error stack: the cause ("Input/output error" when the
// disk failed, "truncated file" ...). For an operating-system error only its message is kept.
std::string hdf5_cause() {
  std::string desc;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, &desc);
  H5Eclear2(H5E_DEFAULT);
  const std::string os_tag = "error message = '";
  const size_t at = desc.find(os_tag);
  if (at != std::string::npos) {
    const size_t begin = at + os_tag.size();
    return desc.substr(begin, desc.find('\'', begin) - begin);
  }
  return desc.size() > 200 ? desc.substr(0, 200) + "..." : desc;
}

[[noreturn]] void fail(const std::string& what, const std::string& file) {
  const auto guard = lock();
  const std::string cause = hdf5_cause();
  throw DataError("HDF5: " + what + " failed for '" + file + "'" +
                  (cause.empty() ? std::string() : " (" + cause + ")") +
                  "; check that the file exists, is readable and is a complete nsl_dist shard "
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
