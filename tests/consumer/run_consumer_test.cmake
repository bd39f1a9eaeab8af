# Installs the built oap into a fresh prefix, builds tests/consumer against it with
# find_package(oap), and runs the result. Called by ctest with -DOAP_BINARY_DIR, -DCONSUMER_DIR,
# -DWORK_DIR, and -DSPM_TRAIN_FIXTURE (empty without SentencePiece support).
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
function(run_step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()
run_step(${CMAKE_COMMAND} --install "${OAP_BINARY_DIR}" --prefix "${prefix}")
run_step(${CMAKE_COMMAND} -S "${CONSUMER_DIR}" -B "${WORK_DIR}/build" -G Ninja
         "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_BUILD_TYPE=Release)
run_step(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
execute_process(COMMAND "${WORK_DIR}/build/consumer" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message(STATUS "${out}")
if(NOT rc EQUAL 0 OR NOT out MATCHES "consumer ok: 2 events")
  message(FATAL_ERROR "consumer failed (${rc}): ${out}")
endif()
# The installed command-line tool runs too (it finds liboap.so through its RPATH).
execute_process(COMMAND "${prefix}/bin/oap" --version RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0 OR NOT out MATCHES "oap ")
  message(FATAL_ERROR "installed oap --version failed (${rc}): ${out}")
endif()
# The installed tool reads a SentencePiece model through the plugin installed beside liboap.so
# (it must not fall back on the build tree's copy: liboap looks next to itself).
if(SPM_TRAIN_FIXTURE)
  run_step("${SPM_TRAIN_FIXTURE}" train "${WORK_DIR}/spm_model")
  execute_process(COMMAND "${prefix}/bin/oap" tokenize --model "${WORK_DIR}/spm_model"
                          --text "the user changed topic"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "\"decoded\":\"the user changed topic\"")
    message(FATAL_ERROR "installed oap tokenize with a SentencePiece model failed (${rc}): ${out}${err}")
  endif()
endif()
