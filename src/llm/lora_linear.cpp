#include "oap/llm/lora_linear.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <vector>

#include "oap/core/error.hpp"

namespace oap {
namespace {
std::string shape_str(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}
}  // namespace

LoraLinear::LoraLinear(at::Tensor weight, at::Tensor bias)
    : weight_(weight.detach()), bias_(bias.defined() ? bias.detach() : bias) {
  OAP_CHECK(weight_.dim() == 2, InvalidArgument,
            "LoraLinear: weight must be [out, in], got " + shape_str(weight_));
  OAP_CHECK(!bias_.defined() || (bias_.dim() == 1 && bias_.size(0) == weight_.size(0)),
            InvalidArgument, "LoraLinear: bias must be [out], got " + shape_str(bias_));
}

at::Tensor LoraLinear::forward(const at::Tensor& x) const {
  return torch::nn::functional::linear(x, weight_, bias_);
}

void LoraLinear::check_pair(const LoraPair& p) const {
  OAP_CHECK(p.a.defined() && p.b.defined() && p.a.dim() == 2 && p.b.dim() == 2 &&
                p.a.size(1) == in_features() && p.b.size(0) == out_features() &&
                p.a.size(0) == p.b.size(1),
            InvalidArgument,
            "LoRA pair shapes A " + shape_str(p.a) + ", B " + shape_str(p.b) +
                " do not fit a projection [" + std::to_string(out_features()) + ", " +
                std::to_string(in_features()) +
                "] (A must be [r, in], B [out, r]; maybe an "
                "adapter for another base model?)");
}

at::Tensor LoraLinear::forward(const at::Tensor& x, const LoraPair& p) const {
  check_pair(p);
  auto a = p.a.to(x.scalar_type());
  auto b = p.b.to(x.scalar_type());
  const bool drop = p.dropout > 0 && at::GradMode::is_enabled();
  const at::Tensor in = drop ? torch::dropout(x, p.dropout, /*train=*/true) : x;
  // Same order of operations as PEFT: lora_B(lora_A(dropout(x))) * scaling.
  auto delta = torch::matmul(torch::matmul(in, a.t()), b.t()) * p.scale;
  return forward(x) + delta;
}

bool LoraRowStack::matches(std::span<const LoraPair* const> rows, at::ScalarType dtype) const {
  if (!a_rows_.defined() || dtype != dtype_ || a_src_.size() != rows.size()) return false;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const LoraPair* p = rows[i];
    if (p == nullptr) {
      if (a_src_[i].defined()) return false;
      continue;
    }
    // The same tensors (held here, so their addresses cannot have been reused), unmodified.
    if (!a_src_[i].defined() || p->a.unsafeGetTensorImpl() != a_src_[i].unsafeGetTensorImpl() ||
        p->b.unsafeGetTensorImpl() != b_src_[i].unsafeGetTensorImpl() ||
        p->a._version() != versions_[2 * i] || p->b._version() != versions_[2 * i + 1] ||
        p->scale != scales_[i]) {
      return false;
    }
  }
  return true;
}

at::Tensor LoraLinear::apply_stack(const at::Tensor& x, LoraRowStack& st) const {
  const bool one_scale = !st.row_scale_.defined();
  if (x.size(1) == 1 && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble)) {
    // One token per row (a decode step) in float: two broadcast products reduced, each row's
    // x A^T then h B^T, instead of two batched matrix products of B tiny matrices, which
    // LibTorch runs as one BLAS call per row (64 rows, rank 8: 6x faster on a 128-wide
    // projection, 1.7x on a 512-wide one, docs/benchmarks.md). In bfloat16 the products would be
    // rounded before the sum, so bf16 keeps the batched products (which accumulate in float).
    if (!st.b_rows_t_.defined()) st.b_rows_t_ = st.b_rows_.transpose(1, 2).contiguous();
    auto h = (x * st.a_rows_).sum(-1, /*keepdim=*/true);  // [B, r, 1]
    if (!one_scale) h = h * st.row_scale_;
    auto delta = (h * st.b_rows_t_).sum(1, /*keepdim=*/true);  // [B, 1, out]
    return forward(x).add_(delta, one_scale ? st.scale_ : 1.0);
  }
  // The update is added into the base output by baddbmm_: no [B, T, out] temporaries. One
  // scale for every row (each row has a pair and all scales are equal: the usual case, users'
  // adapters sharing alpha and r) is baddbmm_'s alpha; otherwise the rows' scales multiply
  // x A^T ([B, T, r]). (The one-scale case saves five small ops per projection, which count in
  // a decode step of a small model: `tiny`, 64 rows.)
  auto h = torch::bmm(x, st.a_rows_.transpose(1, 2));
  if (one_scale) return forward(x).baddbmm_(h, st.b_rows_.transpose(1, 2), 1.0, st.scale_);
  return forward(x).baddbmm_(h * st.row_scale_, st.b_rows_.transpose(1, 2));
}

at::Tensor LoraLinear::forward(const at::Tensor& x, std::span<const LoraPair* const> rows,
                               LoraRowStack* keep) const {
  OAP_CHECK(x.dim() == 3 && static_cast<std::size_t>(x.size(0)) == rows.size(), InvalidArgument,
            "LoraLinear: per-row adapters need x [B, T, in] with B == " +
                std::to_string(rows.size()) + " rows, got x " + shape_str(x));
  const auto dtype = x.scalar_type();
  // A kept stack is only for inference: one built under autograd would hold its graph.
  if (keep != nullptr && at::GradMode::is_enabled()) keep = nullptr;
  if (keep != nullptr) {
    if (keep->matches(rows, dtype)) return apply_stack(x, *keep);
    keep->clear();  // rebuilt below, or not needed (no pair, or one for all rows)
  }
  // Distinct pairs in first-seen order; rows without one get index 0 and scale 0.
  std::vector<const LoraPair*> unique;
  std::vector<int64_t> index(rows.size(), 0);
  std::vector<double> scale(rows.size(), 0.0);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] == nullptr) continue;
    auto it = std::find(unique.begin(), unique.end(), rows[i]);
    if (it == unique.end()) {
      check_pair(*rows[i]);
      unique.push_back(rows[i]);
      it = unique.end() - 1;
    }
    index[i] = it - unique.begin();
    scale[i] = rows[i]->scale;
  }
  if (unique.empty()) return forward(x);
  if (unique.size() == 1 &&
      std::all_of(rows.begin(), rows.end(), [&](const LoraPair* p) { return p == unique[0]; })) {
    return forward(x, *unique[0]);
  }
  // [B, r, in] and [B, out, r]: each row's A and B (the distinct pairs padded to the largest
  // rank) in the input dtype, with as few copies of B rows as the case allows:
  //   - every row its own pair (k == B, in order): the k pairs stacked, cast once if needed;
  //   - pairs already in the input dtype: the rows' pairs stacked directly (one copy);
  //   - otherwise the k pairs stacked, cast once (casting k small tensors one by one cost more
  //     than the update itself in a bf16 decode step; stack promotes mixed dtypes), then
  //     gathered per row.
  // (Measured on the small preset's 512 -> 512 projection, 64 rows, decode: a gather after the
  // stack in every case cost 12% more CPU with 64 distinct float32 pairs; a stack that casts
  // while it copies, 27-58% more with float32 pairs and a bfloat16 input.)
  int64_t r_max = 0;
  for (const auto* p : unique) r_max = std::max(r_max, p->a.size(0));
  std::vector<at::Tensor> as, bs;
  bool same_dtype = true;
  for (const auto* p : unique) {
    const int64_t pad = r_max - p->a.size(0);
    auto a = p->a;
    auto b = p->b;
    if (pad > 0) {
      // Zero rows of A and zero columns of B contribute nothing, so mixed ranks can share a bmm.
      a = torch::constant_pad_nd(a, {0, 0, 0, pad});
      b = torch::constant_pad_nd(b, {0, pad});
    }
    same_dtype = same_dtype && a.scalar_type() == dtype && b.scalar_type() == dtype;
    as.push_back(a);
    bs.push_back(b);
  }
  bool identity = unique.size() == rows.size();
  for (std::size_t i = 0; identity && i < index.size(); ++i) {
    identity = index[i] == static_cast<int64_t>(i);
  }
  auto dev = x.device();
  LoraRowStack st;
  if (same_dtype && !identity) {
    std::vector<at::Tensor> row_as, row_bs;
    for (const auto i : index) {
      row_as.push_back(as[static_cast<std::size_t>(i)]);
      row_bs.push_back(bs[static_cast<std::size_t>(i)]);
    }
    st.a_rows_ = torch::stack(row_as);
    st.b_rows_ = torch::stack(row_bs);
  } else {
    st.a_rows_ = torch::stack(as).to(dtype);
    st.b_rows_ = torch::stack(bs).to(dtype);
    if (!identity) {
      auto idx = torch::tensor(index, torch::kLong).to(dev);
      st.a_rows_ = st.a_rows_.index_select(0, idx);
      st.b_rows_ = st.b_rows_.index_select(0, idx);
    }
  }
  const bool one_scale =
      std::none_of(rows.begin(), rows.end(), [](const LoraPair* p) { return p == nullptr; }) &&
      std::all_of(scale.begin(), scale.end(), [&](double v) { return v == scale[0]; });
  if (one_scale) {
    st.scale_ = scale[0];
  } else {
    st.row_scale_ = torch::tensor(scale, torch::kDouble).to(dtype).to(dev).view({-1, 1, 1});
  }
  if (keep == nullptr) return apply_stack(x, st);
  st.dtype_ = dtype;
  st.scales_ = scale;
  st.a_src_.resize(rows.size());
  st.b_src_.resize(rows.size());
  st.versions_.assign(2 * rows.size(), 0);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] == nullptr) continue;
    st.a_src_[i] = rows[i]->a;
    st.b_src_[i] = rows[i]->b;
    st.versions_[2 * i] = rows[i]->a._version();
    st.versions_[2 * i + 1] = rows[i]->b._version();
  }
  *keep = std::move(st);
  return apply_stack(x, *keep);
}

}  // namespace oap
