# Tests of the llm/ model runtime (safetensors, config, CausalLM, LoRA, init, generation).
# Included from tests/llm/CMakeLists.txt. Binary: llm_model_test.
oap_add_test_binary(llm_model_test
  ${CMAKE_CURRENT_LIST_DIR}/safetensors_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model_config_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/causal_lm_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/fused_ops_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/blas_check_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/lora_linear_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model_init_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/generator_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/peft_adapter_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/base_model_test.cpp
)
# The tests use LibTorch directly: one precompiled header for all of them.
target_precompile_headers(llm_model_test PRIVATE ${PROJECT_SOURCE_DIR}/src/llm/torch_pch.hpp)
target_link_libraries(llm_model_test PRIVATE GTest::gmock)
target_include_directories(llm_model_test PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_compile_definitions(llm_model_test PRIVATE OAP_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

# Header-parser robustness. With the normal compiler: a ctest that replays a few hundred
# random and mutated headers through the parser (so every build exercises it). The libFuzzer
# target itself is built by clang as its own small project (tests/fuzz/CMakeLists.txt) and run
# by scripts/fuzz.sh, which scripts/test.sh calls.
add_executable(safetensors_header_replay
  ${PROJECT_SOURCE_DIR}/tests/fuzz/safetensors_header_fuzz.cpp
  ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_replay_main.cpp)
target_link_libraries(safetensors_header_replay PRIVATE oap::oap)
oap_target_options(safetensors_header_replay)
add_test(NAME SafeTensorsHeaderFuzzReplay COMMAND safetensors_header_replay 600)
