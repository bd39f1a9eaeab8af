# Tokenizers for llm/ (no LibTorch here): byte-level BPE from tokenizer.json (PCRE2 for the
# pre-tokenizer regexes), SentencePiece .model files, and a small BPE trainer.
find_package(PkgConfig REQUIRED)
pkg_check_modules(OAP_PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)

# Debian's libsentencepiece.so carries its own copy of protobuf-lite and exports those symbols;
# Debian's LibTorch loads the full libprotobuf.so.32. In one process the two copies interpose
# each other and the program crashes at start-up (in libprotobuf's static initializers), so
# SentencePiece support is off by default. Turn it on with a LibTorch that does not export
# protobuf (the official libtorch archives link it privately) or once SentencePiece is loaded in
# isolation. When off, Tokenizer::from_sentencepiece_file throws a clear error.
option(OAP_WITH_SENTENCEPIECE "Read SentencePiece tokenizer.model files (see tokenizer_sources.cmake)" OFF)

target_sources(oap PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/bpe_model.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bpe_tokenizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bpe_trainer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_byte_level.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_nfc.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_pre_tokenizer.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_regex.cpp
)
target_link_libraries(oap PRIVATE PkgConfig::OAP_PCRE2)
if(OAP_WITH_SENTENCEPIECE)
  pkg_check_modules(OAP_SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
  target_sources(oap PRIVATE ${CMAKE_CURRENT_LIST_DIR}/sentencepiece_tokenizer.cpp)
  target_link_libraries(oap PRIVATE PkgConfig::OAP_SENTENCEPIECE)
  # Naming LibTorch's libprotobuf first on oap's link line makes liboap.so NEED it ahead of
  # libsentencepiece, which stops the start-up crash; whether SentencePiece then works with
  # that protobuf has not been verified with Debian's LibTorch.
  find_library(OAP_PROTOBUF_LIBRARY protobuf)
  if(OAP_PROTOBUF_LIBRARY)
    target_link_options(oap PRIVATE "LINKER:--no-as-needed" "${OAP_PROTOBUF_LIBRARY}" "LINKER:--as-needed")
  endif()
  set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/tokenizer.cpp
                              PROPERTIES COMPILE_DEFINITIONS OAP_HAVE_SENTENCEPIECE=1)
endif()
