#pragma once
// RAII handles for libmatio (MAT-file v5 / v7.3) and typed reads of its variables. Only the CARS196
// converter and its test include matio.h.
#include <matio.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace nsl {

struct MatFileCloser {
  void operator()(mat_t* mat) const {
    if (mat) Mat_Close(mat);
  }
};
struct MatVarFreer {
  void operator()(matvar_t* var) const {
    if (var) Mat_VarFree(var);
  }
};
using MatFile = std::unique_ptr<mat_t, MatFileCloser>;
using MatVar = std::unique_ptr<matvar_t, MatVarFreer>;

// Number of elements (product of the dimensions).
size_t mat_element_count(const matvar_t* var);
// The first element of a real numeric variable (any integer or floating class) as a double;
// nullopt when var is null, empty, complex or not numeric.
std::optional<double> mat_scalar(const matvar_t* var);
// A 1 x n (or empty) char array as UTF-8; nullopt when var is not a char array.
std::optional<std::string> mat_string(const matvar_t* var);

}  // namespace nsl
