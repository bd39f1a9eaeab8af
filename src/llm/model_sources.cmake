# llm/ model runtime (the model engineer's files). Included from src/llm/CMakeLists.txt.
#
# Files that need no LibTorch go straight into oap. The LibTorch translation units are compiled in
# an OBJECT library with a precompiled <torch/torch.h> (each such TU costs ~30 s without it) and
# their objects are added to the shared oap library.
target_sources(oap PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/safetensors_header.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model_config.cpp
  ${CMAKE_CURRENT_LIST_DIR}/rope_scaling.cpp
  ${CMAKE_CURRENT_LIST_DIR}/causal_lm_options.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model_preset.cpp
  ${CMAKE_CURRENT_LIST_DIR}/generation_options.cpp
)

add_library(oap_llm_objects OBJECT
  ${CMAKE_CURRENT_LIST_DIR}/safetensors.cpp
  ${CMAKE_CURRENT_LIST_DIR}/safetensors_checkpoint.cpp
  ${CMAKE_CURRENT_LIST_DIR}/lora_linear.cpp
  ${CMAKE_CURRENT_LIST_DIR}/lora_weights.cpp
  ${CMAKE_CURRENT_LIST_DIR}/peft_adapter.cpp
  ${CMAKE_CURRENT_LIST_DIR}/kv_cache.cpp
  ${CMAKE_CURRENT_LIST_DIR}/causal_lm.cpp
  ${CMAKE_CURRENT_LIST_DIR}/model_init.cpp
  ${CMAKE_CURRENT_LIST_DIR}/sampling.cpp
  ${CMAKE_CURRENT_LIST_DIR}/generator.cpp
  ${CMAKE_CURRENT_LIST_DIR}/scorer.cpp
)
target_precompile_headers(oap_llm_objects PRIVATE ${CMAKE_CURRENT_LIST_DIR}/torch_pch.hpp)
set_target_properties(oap_llm_objects PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_compile_features(oap_llm_objects PUBLIC cxx_std_20)
target_link_libraries(oap_llm_objects PUBLIC torch nlohmann_json::nlohmann_json PRIVATE spdlog::spdlog)
target_include_directories(oap_llm_objects PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/src)
target_compile_options(oap_llm_objects PRIVATE -Wall -Wextra)
target_sources(oap PRIVATE $<TARGET_OBJECTS:oap_llm_objects>)
