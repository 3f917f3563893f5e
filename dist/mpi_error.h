#pragma once
// How an MPI return code becomes an exception, for the MPI back end and its watchdog.
#include <mpi.h>

#include <string>

#include "common/error.h"

namespace nsl {

// Throws DistributedError "MPI <what> failed: <MPI's text>" unless rc is MPI_SUCCESS.
inline void check_mpi(int rc, const std::string& what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw DistributedError("MPI " + what + " failed: " + std::string(text, static_cast<size_t>(len)));
}

}  // namespace nsl
