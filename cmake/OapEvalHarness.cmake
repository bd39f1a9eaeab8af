# The personalization evaluation's harness (bench/personalization_eval_*), a static library that
# bench/personalization_eval and tests/eval both link: the test suite builds it too, so it keeps
# working when the benchmarks are off. Defined once, by whichever folder asks first.
function(oap_add_eval_harness)
  if(TARGET oap_personalization_eval)
    return()
  endif()
  add_library(oap_personalization_eval STATIC
              ${PROJECT_SOURCE_DIR}/bench/personalization_eval_harness.cpp
              ${PROJECT_SOURCE_DIR}/bench/personalization_eval_metrics.cpp)
  target_include_directories(oap_personalization_eval PUBLIC ${PROJECT_SOURCE_DIR}/bench)
  # The oracle policy calls the Personalizer's training plan (src/personalizer/training_plan.hpp,
  # exported by liboap but not installed) rather than a copy of it.
  target_include_directories(oap_personalization_eval PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(oap_personalization_eval PUBLIC oap::oap)
  target_precompile_headers(oap_personalization_eval PRIVATE
                            ${PROJECT_SOURCE_DIR}/src/llm/torch_pch.hpp)
  oap_target_options(oap_personalization_eval)
endfunction()
