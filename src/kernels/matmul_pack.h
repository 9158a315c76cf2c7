// MatrixPacker: packs many matmul weights (PackedMatrix, kernels/matmul.h) in one pass, into
// one zero-filled block, on the context's threads — a model's load.
//
// Why one block and one pass: packing is a copy into fresh memory, and on a model's scale
// (hundreds of MB) most of its cost is the kernel zeroing each fresh page at first touch. With
// one block (2 MiB huge pages, core/buffer.h) split into tasks of exactly one huge page each,
// every page is faulted, zeroed and filled by one thread while the other threads work on other
// pages, and no matrix is too small to split: per-matrix buffers put the small ones on 4 KiB
// pages zeroed by the calling thread alone, and per-matrix tasks had both threads wait on the
// same huge page's zeroing.
//
// The bytes are those of PackedMatrix::PackRows for each matrix (it is this packer with one
// matrix): a copy has no arithmetic, so the ISA path, the split and the thread count cannot
// change any of them.
#ifndef DETINFER_KERNELS_MATMUL_PACK_H_
#define DETINFER_KERNELS_MATMUL_PACK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/context.h"
#include "kernels/matmul.h"

namespace detinfer {

class MatrixPacker {
 public:
  // Checks the parts (as PackRows does) and queues them; *out is set by Run. The views' data
  // must stay valid, and `out` in place, until Run returns.
  Status Add(std::span<const TensorView> parts, PackedMatrix* out);
  Status Add(const TensorView& w, PackedMatrix* out) { return Add(std::span(&w, 1), out); }
  // The parts as one fused weight: one run per stretch of consecutive parts of one dtype.
  Status Add(std::span<const TensorView> parts, FusedMatrix* out);
  // Allocates the block and packs every queued matrix; the packer is empty afterwards.
  // `rows_packed`, when set, is told each stretch of a contiguous source part as soon as it has
  // been read for the last time (the caller may then give its memory back, so a model's load
  // never holds the whole file and the whole packed copy at once). It is called from the
  // packing threads, for disjoint stretches.
  using RowsPacked = std::function<void(const void* data, size_t bytes)>;
  // `block`, when set, is given the whole packed block (every matrix's panels at its offset)
  // and what keeps it alive, e.g. to write it to a packed-weight cache file.
  struct Block {
    std::shared_ptr<const void> owner;
    std::span<const uint8_t> bytes;
  };
  Status Run(const KernelContext& ctx, const RowsPacked& rows_packed = nullptr,
             Block* block = nullptr);

  // The bytes of the block Run would fill (every queued matrix, each aligned).
  size_t block_bytes() const { return total_; }
  // Everything the block's bytes are a function of besides the sources' contents, as words to
  // hash: kPackerVersion, the panel width, and per matrix its shape, dtype and place in the
  // block, and for each source part `locate(part)` (a word that names its bytes: where in which
  // file, or a hash of them), its shape and strides. Equal layouts over sources of equal content
  // mean equal blocks.
  using Locate = std::function<uint64_t(const TensorView& part)>;
  std::vector<uint64_t> Layout(const Locate& locate) const;
  // Instead of packing: the queued matrices point into `block` (block_bytes() bytes laid out
  // as Run lays them out, e.g. a cache file written from Run's block), which `owner` keeps
  // alive. The packer is empty afterwards.
  Status Adopt(std::shared_ptr<const void> owner, std::span<const uint8_t> block);

  // Bumped whenever the bytes a packed layout produces change (panel width, the quantised
  // panel records, the zero padding): packed-weight cache files carry it.
  static constexpr uint32_t kPackerVersion = 1;

 private:
  struct Job {
    std::vector<TensorView> parts;
    std::vector<int64_t> start;  // part i holds packed rows [start[i], start[i] + rows_i)
    int64_t n = 0, k = 0;
    DType dtype = DType::kF32;
    size_t offset = 0, bytes = 0;  // where its panels go in the block
    PackedMatrix* out = nullptr;
  };
  std::vector<Job> jobs_;
  size_t total_ = 0;
};

}  // namespace detinfer

#endif  // DETINFER_KERNELS_MATMUL_PACK_H_
