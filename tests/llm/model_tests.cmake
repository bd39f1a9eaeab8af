# Tests of the llm/ model runtime (safetensors, config, CausalLM, LoRA, init, generation).
# Included from tests/llm/CMakeLists.txt. Binary: llm_model_test.
oap_add_test_binary(llm_model_test
  ${CMAKE_CURRENT_LIST_DIR}/safetensors_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model_config_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/causal_lm_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/lora_linear_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model_init_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/generator_test.cpp
)
# The tests use LibTorch directly: one precompiled header for all of them.
target_precompile_headers(llm_model_test PRIVATE ${PROJECT_SOURCE_DIR}/src/llm/torch_pch.hpp)
target_link_libraries(llm_model_test PRIVATE GTest::gmock)
target_include_directories(llm_model_test PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_compile_definitions(llm_model_test PRIVATE OAP_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

# Header-parser robustness. With the normal compiler: a ctest that replays a few hundred
# random and mutated headers through the parser (so CI exercises it). With clang and
# OAP_BUILD_FUZZ=ON: a libFuzzer target (run it briefly: ./safetensors_header_fuzz -max_total_time=30).
add_executable(safetensors_header_replay
  ${PROJECT_SOURCE_DIR}/tests/fuzz/safetensors_header_fuzz.cpp
  ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_replay_main.cpp)
target_link_libraries(safetensors_header_replay PRIVATE oap::oap)
add_test(NAME SafeTensorsHeaderFuzzReplay COMMAND safetensors_header_replay 600)

option(OAP_BUILD_FUZZ "Build libFuzzer targets (needs clang with -fsanitize=fuzzer)" OFF)
if(OAP_BUILD_FUZZ)
  include(CheckCXXSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer")
  check_cxx_source_compiles(
    "#include <cstddef>\n#include <cstdint>\nextern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }"
    OAP_HAVE_LIBFUZZER)
  unset(CMAKE_REQUIRED_FLAGS)
  if(OAP_HAVE_LIBFUZZER)
    add_executable(safetensors_header_fuzz ${PROJECT_SOURCE_DIR}/tests/fuzz/safetensors_header_fuzz.cpp)
    target_compile_options(safetensors_header_fuzz PRIVATE -fsanitize=fuzzer,address)
    target_link_options(safetensors_header_fuzz PRIVATE -fsanitize=fuzzer,address)
    target_link_libraries(safetensors_header_fuzz PRIVATE oap::oap)
    add_test(NAME SafeTensorsHeaderFuzzShort COMMAND safetensors_header_fuzz -max_total_time=20)
  else()
    message(WARNING "OAP_BUILD_FUZZ: the compiler does not support -fsanitize=fuzzer (use clang)")
  endif()
endif()

