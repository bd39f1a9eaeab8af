#pragma once
// The C ABI between liboap and its SentencePiece plugin (liboap_sentencepiece.so). Private to
// the library. Only C types cross it: liboap loads the plugin with RTLD_LOCAL | RTLD_DEEPBIND so
// that libsentencepiece's private copy of protobuf-lite never meets LibTorch's libprotobuf, and
// C++ objects (std::string, exceptions) built against one side must not be handed to the other.
//
// Ownership: a model is created by oap_spm_load and released by oap_spm_free; nothing else is
// allocated for the caller. Results are written into caller-provided buffers. Functions that
// write a variable-length result return OAP_SPM_BUFFER_TOO_SMALL and set the required size
// (in elements) when the buffer is too small; the caller grows it and calls again. Error texts
// go to a caller-provided char buffer, NUL-terminated and truncated to fit.
//
// Thread safety: every function that takes a const model is safe to call from many threads at
// once (SentencePieceProcessor's const methods are); oap_spm_free must not race with them.
// No function throws.

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define OAP_SPM_EXPORT __attribute__((visibility("default")))
#else
#define OAP_SPM_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

// Bumped on every incompatible change of the functions below; liboap refuses a plugin whose
// oap_spm_abi_version() differs.
#define OAP_SPM_ABI_VERSION 1u

// Status codes.
#define OAP_SPM_OK 0
#define OAP_SPM_ERROR 1
#define OAP_SPM_BUFFER_TOO_SMALL 2

// An opaque loaded SentencePiece model.
typedef struct OapSpmModel OapSpmModel;

// OAP_SPM_ABI_VERSION as the plugin was built.
OAP_SPM_EXPORT uint32_t oap_spm_abi_version(void);

// Loads the .model file at path (NUL-terminated). Returns an owned model, or NULL with
// SentencePiece's reason in error (error_capacity bytes, may be 0).
OAP_SPM_EXPORT OapSpmModel* oap_spm_load(const char* path, char* error, size_t error_capacity);
// Releases a model from oap_spm_load; NULL is allowed.
OAP_SPM_EXPORT void oap_spm_free(OapSpmModel* model);

// Encodes text (text_size bytes, not NUL-terminated) into ids (capacity elements) without
// BOS/EOS and sets *count to the number of ids. Returns OAP_SPM_OK, OAP_SPM_BUFFER_TOO_SMALL
// (*count is then the capacity needed) or OAP_SPM_ERROR (reason in error).
OAP_SPM_EXPORT int oap_spm_encode(const OapSpmModel* model, const char* text, size_t text_size,
                                  int32_t* ids, size_t capacity, size_t* count, char* error,
                                  size_t error_capacity);

// Decodes count ids into text (capacity bytes, no NUL added) and sets *size to its length.
// Runs of ordinary pieces are decoded by SentencePiece (word boundaries, byte pieces); control
// pieces (<s>, </s>), which SentencePiece renders as nothing, are written as their piece text,
// or left out if skip_control is non-zero. Returns OAP_SPM_OK, OAP_SPM_BUFFER_TOO_SMALL (*size is
// then the capacity needed) or OAP_SPM_ERROR (an id outside [0, piece count), or a
// SentencePiece failure; reason in error).
OAP_SPM_EXPORT int oap_spm_decode(const OapSpmModel* model, const int32_t* ids, size_t count,
                                  int skip_control, char* text, size_t capacity, size_t* size,
                                  char* error, size_t error_capacity);

// Number of pieces (ids are 0 .. count-1).
OAP_SPM_EXPORT int32_t oap_spm_piece_count(const OapSpmModel* model);
// The id of a piece (piece_size bytes), or the unknown id if the vocabulary has no such piece.
OAP_SPM_EXPORT int32_t oap_spm_piece_to_id(const OapSpmModel* model, const char* piece,
                                           size_t piece_size);
// The text of piece id (not NUL-terminated; length in *size), borrowed from the model and valid
// until oap_spm_free; NULL if id is out of range.
OAP_SPM_EXPORT const char* oap_spm_id_to_piece(const OapSpmModel* model, int32_t id, size_t* size);
// 1 if id is a control piece (<s>, </s>), 0 otherwise or if out of range.
OAP_SPM_EXPORT int oap_spm_is_control(const OapSpmModel* model, int32_t id);
// The model's special ids; -1 where the model has none.
OAP_SPM_EXPORT int32_t oap_spm_bos_id(const OapSpmModel* model);
OAP_SPM_EXPORT int32_t oap_spm_eos_id(const OapSpmModel* model);
OAP_SPM_EXPORT int32_t oap_spm_unk_id(const OapSpmModel* model);

#ifdef __cplusplus
}  // extern "C"
#endif
