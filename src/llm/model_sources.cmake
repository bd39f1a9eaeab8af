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
  ${CMAKE_CURRENT_LIST_DIR}/fused_kernels.cpp
  ${CMAKE_CURRENT_LIST_DIR}/blas_check.cpp
)
# The fused kernels are written for the auto-vectoriser, which needs -O3 (also in Debug builds).
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/fused_kernels.cpp PROPERTIES
  COMPILE_OPTIONS "-O3")

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
oap_target_options(oap_llm_objects)
target_sources(oap PRIVATE $<TARGET_OBJECTS:oap_llm_objects>)

# Two files are compiled with OpenMP (without the precompiled header, which is built without
# it): ScopedIntraOpThreads needs OpenMP's per-thread omp_set_num_threads, and the fused ops'
# at::parallel_for is LibTorch header code that runs serially unless compiled with OpenMP.
# LibTorch already runs on libgomp, so linking it adds no library at run time.
find_package(OpenMP COMPONENTS CXX)
set(oap_openmp_sources ${CMAKE_CURRENT_LIST_DIR}/intra_op_threads.cpp
  ${CMAKE_CURRENT_LIST_DIR}/fused_ops.cpp)
target_sources(oap_llm_objects PRIVATE ${oap_openmp_sources})
if(OpenMP_CXX_FOUND)
  set_source_files_properties(${oap_openmp_sources} PROPERTIES
    COMPILE_OPTIONS "${OpenMP_CXX_FLAGS}" SKIP_PRECOMPILE_HEADERS ON)
  # The runtime library only: OpenMP::OpenMP_CXX would compile all of oap with -fopenmp.
  target_link_libraries(oap PRIVATE ${OpenMP_CXX_LIBRARIES})
else()
  set_source_files_properties(${oap_openmp_sources} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
endif()
target_link_libraries(oap PRIVATE ${CMAKE_DL_LIBS})  # dlsym (blas_check.cpp)
