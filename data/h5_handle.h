#pragma once
// RAII ownership of HDF5 identifiers (hid_t) and error checking that turns HDF5 failures into
// nsl::DataError naming the file. Internal to data/: only data/*.cpp (and tests) include hdf5.h.
#include <hdf5.h>

#include <mutex>
#include <string>
#include <utility>

namespace nsl::h5 {

// The HDF5 library Debian ships is not thread-safe: every function of data/ that calls it holds
// this lock (recursive: they call each other), so callers never take it themselves.
std::recursive_mutex& mutex();
[[nodiscard]] inline std::lock_guard<std::recursive_mutex> lock() {
  return std::lock_guard<std::recursive_mutex>(mutex());
}

// Which H5*close releases an identifier.
enum class Kind { kFile, kGroup, kDataset, kDataspace, kDatatype, kPropList, kAttribute };

// Move-only owner of one hid_t. The destructor closes it and never throws.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, Kind kind) : id_(id), kind_(kind) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), kind_(other.kind_) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
      kind_ = other.kind_;
    }
    return *this;
  }
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Closes the identifier now; returns false if HDF5 reported a failure (e.g. a write that could
  // not be flushed). Never throws.
  bool reset() noexcept;

 private:
  hid_t id_ = H5I_INVALID_HID;
  Kind kind_ = Kind::kFile;
};

// Switches HDF5's automatic error stack printing off (once per process; idempotent).
void silence_errors();
// The same for the calling thread (a thread-safe HDF5 keeps the setting per thread).
void silence_errors_on_this_thread();

// Throws DataError "HDF5: <what> failed for '<file>'" when id < 0; otherwise wraps it in a Handle.
Handle check(hid_t id, Kind kind, const std::string& what, const std::string& file);
// Throws DataError when status < 0.
void check(herr_t status, const std::string& what, const std::string& file);

// Closes the handle and throws DataError if HDF5 reports a failure (use for files being written,
// where a failed close means data may not be on disk).
void close_checked(Handle& handle, const std::string& what, const std::string& file);

}  // namespace nsl::h5
