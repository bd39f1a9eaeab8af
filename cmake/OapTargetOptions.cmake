# Compile options every target of this project gets (library, tools, tests, benchmarks):
# warnings (with Clang also the thread-safety analysis, OAP_THREAD_SAFETY_ANALYSIS), and source
# locations relative to the project root. OAP_CHECK/OAP_THROW put __FILE__ into error messages;
# -fmacro-prefix-map turns "/any/checkout/path/src/x.cpp" into "src/x.cpp", so messages (and the
# tests that read them) do not depend on where the tree lives.
function(oap_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    # Sources reach the compiler by absolute path, or (Ninja, build folder inside the tree) by a
    # path relative to the build folder such as "../src/x.cpp": map both prefixes.
    target_compile_options(${target} PRIVATE "-fmacro-prefix-map=${PROJECT_SOURCE_DIR}/=")
    file(RELATIVE_PATH relative_root ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR})
    string(REGEX REPLACE "/$" "" relative_root "${relative_root}")  # ".." or "../" by version
    if(relative_root)
      target_compile_options(${target} PRIVATE "-fmacro-prefix-map=${relative_root}/=")
    endif()
  endif()
  if(OAP_THREAD_SAFETY_ANALYSIS)
    target_compile_options(${target} PRIVATE -Wthread-safety -Werror=thread-safety)
  endif()
endfunction()
