#pragma once
// Conversions between safetensors DType, LibTorch scalar types and the dtype names used in options
// and config.json ("float32", "bfloat16", "float16").

#include <c10/core/ScalarType.h>

#include <optional>
#include <string>
#include <string_view>

#include "oap/core/error.hpp"
#include "oap/llm/safetensors_header.hpp"

namespace oap::detail {

// The dtype names oap reads in options (CausalLMOptions::dtype, InitModelOptions::dtype) and
// config.json's torch_dtype, as PyTorch and Hugging Face spell them: "float32", "bfloat16",
// "float16". nullopt for any other name.
inline std::optional<c10::ScalarType> scalar_type_from_name(std::string_view name) {
  if (name == "float32") return c10::kFloat;
  if (name == "bfloat16") return c10::kBFloat16;
  if (name == "float16") return c10::kHalf;
  return std::nullopt;
}

inline c10::ScalarType to_scalar_type(DType d) {
  switch (d) {
    case DType::kF64:
      return c10::kDouble;
    case DType::kF32:
      return c10::kFloat;
    case DType::kF16:
      return c10::kHalf;
    case DType::kBF16:
      return c10::kBFloat16;
    case DType::kI64:
      return c10::kLong;
    case DType::kI32:
      return c10::kInt;
    case DType::kI16:
      return c10::kShort;
    case DType::kI8:
      return c10::kChar;
    case DType::kU8:
      return c10::kByte;
    case DType::kBool:
      return c10::kBool;
  }
  OAP_THROW(InvalidArgument, "unknown DType");
}

inline DType to_dtype(c10::ScalarType t) {
  switch (t) {
    case c10::kDouble:
      return DType::kF64;
    case c10::kFloat:
      return DType::kF32;
    case c10::kHalf:
      return DType::kF16;
    case c10::kBFloat16:
      return DType::kBF16;
    case c10::kLong:
      return DType::kI64;
    case c10::kInt:
      return DType::kI32;
    case c10::kShort:
      return DType::kI16;
    case c10::kChar:
      return DType::kI8;
    case c10::kByte:
      return DType::kU8;
    case c10::kBool:
      return DType::kBool;
    default:
      OAP_THROW(InvalidArgument, std::string("tensor dtype ") + c10::toString(t) +
                                     " cannot be stored in safetensors by oap");
  }
}

}  // namespace oap::detail
