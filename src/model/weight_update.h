// Weight updates of a live model (SPEC §A11): new weights from a model file or directory, or
// from tensors in memory named as Hugging Face names them, checked in full before anything
// changes.
//
// How an update keeps the contract: it builds a complete new Transformer with
// Transformer::Create — the one path a fresh load takes — from a ModelWeights in which the
// updated tensors replace the old ones, so the packed panels, the RoPE reorder of q/k rows and
// a tied head are derived exactly as a fresh load derives them, and the updated model computes
// the bits of a fresh engine loaded with the same weights. Everything that can fail (reading,
// checking, allocating, packing) happens while the old model is untouched; the swap itself
// (Transformer::AdoptWeights) cannot fail. So a failed update leaves the old weights serving,
// bit for bit.
//
// Cost: every matrix is repacked, changed or not (a pack is a copy, about what a fresh load of
// the same file costs without its disk reads); tensors the update leaves alone are read from
// where they already are (the old file's map or an earlier update's buffers), not copied.
#ifndef DETINFER_MODEL_WEIGHT_UPDATE_H_
#define DETINFER_MODEL_WEIGHT_UPDATE_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "kernels/context.h"
#include "model/transformer.h"

namespace detinfer {

// One tensor of an in-memory update, as a trainer holds it.
struct NamedTensor {
  // The Hugging Face name, e.g. "model.layers.0.self_attn.q_proj.weight" (model/arch.h,
  // HfTensorName): for every architecture, whatever file format the served model came from.
  // Phi-3's fused "qkv_proj" / "gate_up_proj" are accepted as its files hold them, and a
  // mixture of experts' matrices one expert at a time ("model.layers.0.mlp.experts.3.up_proj
  // .weight", HfExpertTensorName), any subset of the experts.
  std::string name;
  // Must be the dtype the served model stores this tensor in: an update never rounds (a bf16
  // model takes bf16 bytes, an f32 model f32 bytes).
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;      // exactly the tensor's shape in the model ([out, in])
  std::span<const uint8_t> bytes;  // row-major, StorageBytes(dtype, numel) bytes, little-endian
  // Row order is Hugging Face's (q/k rows in the rotate-half RoPE layout), reordered here when
  // the served model's file used the interleaved layout (llama2.c, GGUF llama).
};

// The model `path` holds (any format LoadModel reads), checked against `current`: the same
// architecture and hyper-parameters (errors name the field and both values) and, tensor by
// tensor, the same shapes (errors name the tensor and both shapes). The storage dtype may
// differ: the result is what a fresh load of `path` gives.
Result<Transformer> BuildFromDisk(const Transformer& current, const std::string& path,
                                  const KernelContext& ctx);

// `current` with `tensors` replacing its own. Errors name the tensor: an unknown name, a name
// given twice, a shape or dtype other than the model's, a byte count that does not match, a
// non-finite norm weight. A tied model accepts "lm_head.weight" only when its bytes equal the
// (updated) embedding's.
Result<Transformer> BuildFromTensors(const Transformer& current,
                                     std::span<const NamedTensor> tensors,
                                     const KernelContext& ctx);

}  // namespace detinfer

#endif  // DETINFER_MODEL_WEIGHT_UPDATE_H_
