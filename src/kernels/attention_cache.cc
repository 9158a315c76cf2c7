// AttentionWithCache: one sequence's new queries against cached K/V followed by its new K/V
// rows. It runs the very key-visiting code of Attention (attention_driver.h); only the row
// lookup differs (position < S_cache -> cache row, else new row), which is why it equals
// Attention over the concatenation bit for bit without ever building the concatenation.
#include <cstdint>
#include <string>

#include "kernels/attention.h"
#include "kernels/attention_checks.h"
#include "kernels/attention_driver.h"

namespace detinfer {

namespace {

namespace ac = kernels::attention_checks;
namespace ad = kernels::attention_driver;

std::string CacheStr(int64_t v) { return std::to_string(v); }

struct CacheLocator {
  const char *kc, *vc, *kn, *vn;
  int64_t s_cache;
  int64_t kcs0, kcs1, vcs0, vcs1, kns0, kns1, vns0, vns1;  // byte strides
  void Row(int64_t, int64_t pos, int64_t g, const void** kp, const void** vp) const {
    if (pos < s_cache) {
      *kp = kc + pos * kcs0 + g * kcs1;
      *vp = vc + pos * vcs0 + g * vcs1;
    } else {
      const int64_t r = pos - s_cache;
      *kp = kn + r * kns0 + g * kns1;
      *vp = vn + r * vns0 + g * vns1;
    }
  }
};

const char* CacheBase(const TensorView& v) { return static_cast<const char*>(v.data); }

}  // namespace

Status AttentionWithCache(const KernelContext& ctx, const TensorView& q_new,
                          const TensorView& k_cache, const TensorView& v_cache,
                          const TensorView& k_new, const TensorView& v_new,
                          const AttentionOptions& opts, const TensorView& out,
                          const TensorView& lse) {
  const std::string op = "attention_with_cache";
  DETINFER_RETURN_IF_ERROR(ac::CheckQueries(op, q_new, out, lse));
  const int64_t hq = q_new.dim(1), d = q_new.dim(2);
  DETINFER_RETURN_IF_ERROR(ac::CheckKv(op, k_cache, "k_cache", v_cache, "v_cache", 3, hq, d));
  DETINFER_RETURN_IF_ERROR(ac::CheckKv(op, k_new, "k_new", v_new, "v_new", 3, hq, d));
  if (k_new.dtype != k_cache.dtype || k_new.dim(1) != k_cache.dim(1)) {
    return Status::InvalidArgument(op + ": k_new " + k_new.ShapeString() +
                                   " must have the cache's dtype and kv heads (k_cache " +
                                   k_cache.ShapeString() + ")");
  }
  const int64_t t = q_new.dim(0);
  if (k_new.dim(0) != t || v_new.dim(0) != t) {
    return Status::InvalidArgument(op + ": q_new has " + CacheStr(t) +
                                   " positions but k_new has " + CacheStr(k_new.dim(0)) +
                                   " and v_new has " + CacheStr(v_new.dim(0)) +
                                   " (all three must be equal)");
  }
  const TensorView* inputs[] = {&q_new, &k_cache, &v_cache, &k_new, &v_new};
  const char* const names[] = {"q_new", "k_cache", "v_cache", "k_new", "v_new"};
  DETINFER_RETURN_IF_ERROR(ac::CheckNoOverlap(op, out, lse, inputs, names, 5));
  DETINFER_ASSIGN_OR_RETURN(const ad::Shape sh, ac::ResolveShape(op, q_new, k_cache.dim(1), opts));
  const int64_t s_cache = k_cache.dim(0);
  AttentionSeq seq;
  seq.q_begin = 0;
  seq.q_len = t;
  seq.q_pos = s_cache;
  seq.kv_len = s_cache + t;
  const int64_t e = static_cast<int64_t>(DTypeSize(k_cache.dtype));
  const CacheLocator loc{CacheBase(k_cache), CacheBase(v_cache), CacheBase(k_new),
                         CacheBase(v_new), s_cache,
                         k_cache.stride[0] * e, k_cache.stride[1] * e,
                         v_cache.stride[0] * e, v_cache.stride[1] * e,
                         k_new.stride[0] * e, k_new.stride[1] * e,
                         v_new.stride[0] * e, v_new.stride[1] * e};
  ad::Run(ctx, q_new, sh, k_cache.dtype, std::span<const AttentionSeq>(&seq, 1), out, lse, loc);
  return Status::Ok();
}

}  // namespace detinfer
