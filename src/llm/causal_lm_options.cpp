#include "oap/llm/causal_lm_options.hpp"

#include "llm/torch_dtype.hpp"
#include "oap/core/error.hpp"
#include "oap/core/json_config.hpp"

namespace oap {

void CausalLMOptions::validate() const {
  const bool cuda = device == "cuda" || device.rfind("cuda:", 0) == 0;
  OAP_CHECK(device == "cpu" || cuda, ConfigError,
            "model.device: expected \"cpu\", \"cuda\" or \"cuda:N\", got \"" + device + "\"");
  OAP_CHECK(detail::scalar_type_from_name(dtype).has_value(), ConfigError,
            "model.dtype: expected float32, bfloat16 or float16, got \"" + dtype + "\"");
  OAP_CHECK(!(dtype == "float16" && device == "cpu"), ConfigError,
            "model.dtype: float16 is not supported on the CPU (LibTorch has no CPU fp16 matmul); "
            "use bfloat16 or float32, or a CUDA device");
  OAP_CHECK(num_threads >= 0, ConfigError,
            "model.num_threads: must be >= 0 (0 = all cores), got " + std::to_string(num_threads));
  OAP_CHECK(decode_threads >= 0, ConfigError,
            "model.decode_threads: must be >= 0 (0 = num_threads), got " +
                std::to_string(decode_threads));
  OAP_CHECK(decode_max_tokens >= 0, ConfigError,
            "model.decode_max_tokens: must be >= 0 (0 = no call counts as a decode step), got " +
                std::to_string(decode_max_tokens));
}

void from_json(const nlohmann::json& j, CausalLMOptions& o) {
  JsonObjectReader r(j, "model");
  o.device = r.get<std::string>("device", o.device);
  o.dtype = r.get<std::string>("dtype", o.dtype);
  o.num_threads = r.get<int>("num_threads", o.num_threads);
  o.decode_threads = r.get<int>("decode_threads", o.decode_threads);
  o.decode_max_tokens = r.get<int>("decode_max_tokens", o.decode_max_tokens);
  o.tune_glibc_malloc = r.get<bool>("tune_glibc_malloc", o.tune_glibc_malloc);
  r.finish();
  o.validate();
}

void to_json(nlohmann::json& j, const CausalLMOptions& o) {
  j = {{"device", o.device},
       {"dtype", o.dtype},
       {"num_threads", o.num_threads},
       {"decode_threads", o.decode_threads},
       {"decode_max_tokens", o.decode_max_tokens},
       {"tune_glibc_malloc", o.tune_glibc_malloc}};
}

}  // namespace oap
