# Tokenizers for llm/ (no LibTorch here): BPE from tokenizer.json, byte-level or converted from
# SentencePiece (PCRE2 for the pre-tokenizer and normalizer regexes), SentencePiece .model files,
# and a small BPE trainer.
find_package(PkgConfig REQUIRED)
pkg_check_modules(OAP_PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)

# SentencePiece lives in a plugin, liboap_sentencepiece.so (sentencepiece_plugin.cpp), which
# links libsentencepiece and exposes a small C ABI (sentencepiece_plugin_abi.h); liboap does not
# link libsentencepiece. Debian's libsentencepiece.so carries its own copy of protobuf-lite and
# exports those symbols, while Debian's LibTorch loads the full libprotobuf.so.32: linked into one
# process the two copies interpose each other and the program crashes at start-up. liboap
# dlopens the plugin on first use with RTLD_LOCAL | RTLD_DEEPBIND (sentencepiece_library.cpp),
# so each copy binds to itself. The plugin is built next to liboap.so and installed beside it;
# OAP_SENTENCEPIECE_PLUGIN overrides where it is looked for. Without libsentencepiece-dev (or
# with this option OFF) Tokenizer::from_sentencepiece_file throws a ConfigError.
option(OAP_WITH_SENTENCEPIECE "Read SentencePiece tokenizer.model files through a plugin (see tokenizer_sources.cmake)" ON)
if(OAP_WITH_SENTENCEPIECE)
  pkg_check_modules(OAP_SENTENCEPIECE IMPORTED_TARGET sentencepiece)
  if(NOT OAP_SENTENCEPIECE_FOUND)
    message(WARNING "OAP_WITH_SENTENCEPIECE is ON but pkg-config finds no sentencepiece "
                    "(Debian: libsentencepiece-dev); building without SentencePiece support")
  endif()
endif()

target_sources(oap PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/bpe_model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bpe_tokenizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bpe_tokenizer_load.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bpe_trainer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_added_tokens.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_byte_level.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_decoder.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_json_fields.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_metaspace.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_nfc.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_normalizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_pre_tokenizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_regex.cpp
)
target_link_libraries(oap PRIVATE PkgConfig::OAP_PCRE2)
if(OAP_WITH_SENTENCEPIECE AND OAP_SENTENCEPIECE_FOUND)
  # The plugin: links only libsentencepiece (no liboap, no LibTorch) and exports only the
  # oap_spm_* functions. It is written next to liboap.so, where liboap looks for it.
  add_library(oap_sentencepiece MODULE ${CMAKE_CURRENT_LIST_DIR}/sentencepiece_plugin.cpp)
  target_include_directories(oap_sentencepiece PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(oap_sentencepiece PRIVATE PkgConfig::OAP_SENTENCEPIECE)
  # --as-needed: pkg-config also names libsentencepiece_train, which the plugin does not use.
  target_link_options(oap_sentencepiece PRIVATE "LINKER:--as-needed" "LINKER:--no-undefined")
  oap_target_options(oap_sentencepiece)
  set_target_properties(oap_sentencepiece PROPERTIES
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY $<TARGET_FILE_DIR:oap>)
  # Building liboap builds its plugin, so every program linking oap finds it in the build tree.
  add_dependencies(oap oap_sentencepiece)

  target_sources(oap PRIVATE
    ${CMAKE_CURRENT_LIST_DIR}/sentencepiece_library.cpp
    ${CMAKE_CURRENT_LIST_DIR}/sentencepiece_tokenizer.cpp
  )
  target_link_libraries(oap PRIVATE ${CMAKE_DL_LIBS})
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/sentencepiece_library.cpp
    TARGET_DIRECTORY oap PROPERTIES
    COMPILE_DEFINITIONS "OAP_SENTENCEPIECE_PLUGIN_NAME=\"$<TARGET_FILE_NAME:oap_sentencepiece>\"")
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/tokenizer.cpp
    TARGET_DIRECTORY oap PROPERTIES COMPILE_DEFINITIONS OAP_HAVE_SENTENCEPIECE=1)
endif()
