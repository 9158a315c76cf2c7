// Operand validation shared by the attention entry points (never included by ISA files).
#ifndef DETINFER_KERNELS_ATTENTION_CHECKS_H_
#define DETINFER_KERNELS_ATTENTION_CHECKS_H_

#include <cstdint>
#include <string>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/attention.h"
#include "kernels/attention_driver.h"

namespace detinfer::kernels::attention_checks {

// q [Tq, Hq, D] f32, out [Tq, Hq, D] f32, lse [Tq, Hq] f32; D a multiple of 8 in [8, 256].
Status CheckQueries(const std::string& op, const TensorView& q, const TensorView& out,
                    const TensorView& lse);

// k and v: the same rank, shape and dtype; head dim D; kv heads >= 1 and dividing Hq.
// `names` is e.g. "k"/"v" or "k_cache"/"v_cache".
Status CheckKv(const std::string& op, const TensorView& k, const char* k_name,
               const TensorView& v, const char* v_name, int rank, int64_t hq, int64_t d);

// out/lse must not overlap q, k, v or each other.
Status CheckNoOverlap(const std::string& op, const TensorView& out, const TensorView& lse,
                      const TensorView* inputs[], const char* const input_names[], int n_inputs);

// The shape summary the driver needs, with scale resolved (0 -> 1/sqrt(D); must be finite)
// and the window checked (>= 0).
Result<attention_driver::Shape> ResolveShape(const std::string& op, const TensorView& q,
                                             int64_t hkv, const AttentionOptions& opts);

}  // namespace detinfer::kernels::attention_checks

#endif  // DETINFER_KERNELS_ATTENTION_CHECKS_H_
