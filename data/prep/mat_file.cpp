#include "data/prep/mat_file.h"

namespace nsl {

size_t mat_element_count(const matvar_t* var) {
  if (!var || var->rank < 1 || !var->dims) return 0;
  size_t n = 1;
  for (int d = 0; d < var->rank; ++d) n *= var->dims[d];
  return n;
}

namespace {

template <class T>
double first(const matvar_t* var) {
  return static_cast<double>(*static_cast<const T*>(var->data));
}

void append_utf8(std::string& out, uint32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

}  // namespace

std::optional<double> mat_scalar(const matvar_t* var) {
  if (!var || !var->data || var->isComplex || mat_element_count(var) == 0) return std::nullopt;
  switch (var->class_type) {
    case MAT_C_DOUBLE:
      return first<double>(var);
    case MAT_C_SINGLE:
      return first<float>(var);
    case MAT_C_INT8:
      return first<int8_t>(var);
    case MAT_C_UINT8:
      return first<uint8_t>(var);
    case MAT_C_INT16:
      return first<int16_t>(var);
    case MAT_C_UINT16:
      return first<uint16_t>(var);
    case MAT_C_INT32:
      return first<int32_t>(var);
    case MAT_C_UINT32:
      return first<uint32_t>(var);
    case MAT_C_INT64:
      return first<int64_t>(var);
    case MAT_C_UINT64:
      return first<uint64_t>(var);
    default:
      return std::nullopt;
  }
}

std::optional<std::string> mat_string(const matvar_t* var) {
  if (!var || var->class_type != MAT_C_CHAR) return std::nullopt;
  const size_t n = mat_element_count(var);
  std::string out;
  if (n == 0) return out;
  if (!var->data || (var->rank == 2 && var->dims[0] > 1)) return std::nullopt;
  if (var->data_size == 1) return std::string(static_cast<const char*>(var->data), n);
  if (var->data_size == 2) {
    const auto* chars = static_cast<const uint16_t*>(var->data);
    for (size_t i = 0; i < n; ++i) append_utf8(out, chars[i]);
    return out;
  }
  return std::nullopt;
}

}  // namespace nsl
