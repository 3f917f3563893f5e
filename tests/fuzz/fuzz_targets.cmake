# The libFuzzer targets of tests/fuzz (issue 9): a separate clang project (LibTorch-free, built with
# -fsanitize=fuzzer,address,undefined), driven from the main build as an external project, and one
# ctest test per target (label "fuzz"): tests/fuzz/run_fuzzer.sh fuzzes it for 30 s from a scratch
# copy of its seed corpus tests/fuzz/corpus/<target>/ and fails on a crash, leak or timeout, or
# below 100,000 executions. Failing inputs land in <build>/fuzz/artifacts/<target>/.
include(ExternalProject)

set(NSL_FUZZ_TARGETS fuzz_config fuzz_safetensors fuzz_checkpoint_manifest fuzz_dataset_manifest
                     fuzz_annotations)
set(NSL_FUZZ_SECONDS 30)
# yaml-cpp + ASan make fuzz_config the slowest target (about 4,000 inputs/s here): 40 s keeps it
# clear of the 100,000-run floor on a loaded machine.
set(NSL_FUZZ_SECONDS_fuzz_config 40)
set(NSL_FUZZ_MIN_RUNS 100000)

find_program(NSL_FUZZ_CXX NAMES clang++-14 clang++)
if(NOT NSL_FUZZ_CXX)
  message(FATAL_ERROR "clang++ (clang++-14 or clang++) was not found: the libFuzzer targets in "
                      "tests/fuzz need clang and its sanitizer runtimes; run launch/setup.sh "
                      "(it installs clang and libclang-rt-14-dev)")
endif()

# The fuzzer, ASan and UBSan runtimes ship separately from clang (Debian: libclang-rt-14-dev):
# link a minimal fuzz target once per compiler so a missing runtime fails here, clearly.
if(NOT NSL_FUZZ_CXX_CHECKED STREQUAL NSL_FUZZ_CXX)
  set(probe_dir ${CMAKE_BINARY_DIR}/fuzz-probe)
  file(WRITE ${probe_dir}/probe.cpp
       "#include <cstddef>\n#include <cstdint>\n"
       "extern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n")
  execute_process(
    COMMAND ${NSL_FUZZ_CXX} -fsanitize=fuzzer,address,undefined probe.cpp -o probe
    WORKING_DIRECTORY ${probe_dir}
    RESULT_VARIABLE probe_rc
    OUTPUT_VARIABLE probe_out
    ERROR_VARIABLE probe_out)
  if(NOT probe_rc EQUAL 0)
    message(FATAL_ERROR "${NSL_FUZZ_CXX} cannot link a libFuzzer target "
                        "(-fsanitize=fuzzer,address,undefined): the sanitizer runtimes are "
                        "missing; run launch/setup.sh (it installs libclang-rt-14-dev).\n"
                        "${probe_out}")
  endif()
  set(NSL_FUZZ_CXX_CHECKED ${NSL_FUZZ_CXX} CACHE INTERNAL "clang++ that linked a libFuzzer probe")
endif()

find_program(NSL_FUZZ_CCACHE ccache)
set(fuzz_cmake_args -DCMAKE_CXX_COMPILER=${NSL_FUZZ_CXX} -DCMAKE_BUILD_TYPE=Release)
if(NSL_FUZZ_CCACHE)
  list(APPEND fuzz_cmake_args -DCMAKE_CXX_COMPILER_LAUNCHER=${NSL_FUZZ_CCACHE})
endif()

set(fuzz_binary_dir ${CMAKE_BINARY_DIR}/fuzz)
set(fuzz_byproducts)
foreach(target IN LISTS NSL_FUZZ_TARGETS)
  list(APPEND fuzz_byproducts ${fuzz_binary_dir}/${target})
endforeach()

ExternalProject_Add(nsl_fuzz_targets
  SOURCE_DIR ${CMAKE_CURRENT_LIST_DIR}
  BINARY_DIR ${fuzz_binary_dir}
  CMAKE_ARGS ${fuzz_cmake_args}
  BUILD_ALWAYS ON
  INSTALL_COMMAND ""
  BUILD_BYPRODUCTS ${fuzz_byproducts})

foreach(target IN LISTS NSL_FUZZ_TARGETS)
  set(seconds ${NSL_FUZZ_SECONDS})
  if(DEFINED NSL_FUZZ_SECONDS_${target})
    set(seconds ${NSL_FUZZ_SECONDS_${target}})
  endif()
  add_test(NAME ${target}
           COMMAND ${CMAKE_CURRENT_LIST_DIR}/run_fuzzer.sh ${fuzz_binary_dir}/${target}
                   ${CMAKE_CURRENT_LIST_DIR}/corpus/${target} ${seconds} ${NSL_FUZZ_MIN_RUNS})
  set_tests_properties(${target} PROPERTIES LABELS fuzz TIMEOUT 120
                       ENVIRONMENT NSL_FUZZ_ARTIFACTS=${fuzz_binary_dir}/artifacts)
endforeach()
