#pragma once
// Precompiled header of the llm/ LibTorch translation units (see model_sources.cmake).
#include <torch/torch.h>
#include <nlohmann/json.hpp>
