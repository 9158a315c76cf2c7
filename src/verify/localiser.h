// The divergence localiser: records every op's rows of one forward path (a TraceRecorder is a
// ForwardObserver) and finds the first (layer, op, head, position) where two paths differ.
//
// "First" is the order (layer, op in compute order, position): a row depends only on rows of
// earlier layers, of earlier ops of its layer, or (through attention) of earlier positions, so
// the first differing row in this order is a difference whose inputs were all equal — where the
// paths parted, not one of its consequences.
#ifndef DETINFER_VERIFY_LOCALISER_H_
#define DETINFER_VERIFY_LOCALISER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "model/forward_probe.h"

namespace detinfer::verify {

struct TraceRow {
  std::vector<float> values;
  int64_t head_dim = 0;
};
// (layer, op, position) -> the row as last computed.
using TraceKey = std::tuple<int64_t, int, int64_t>;
using Trace = std::map<TraceKey, TraceRow>;

class TraceRecorder final : public ForwardObserver {
 public:
  void OnTap(const Tap& tap) override;
  // The rows computed for `tokens` (a prompt and what followed it): every recorded sequence
  // whose tokens agree with them, merged in the order they were recorded (later rows win).
  Trace TraceOf(std::span<const int32_t> tokens) const;

 private:
  struct SeqRecord {
    SeqId seq = 0;
    std::map<int64_t, int32_t> tokens;  // position -> token
    Trace rows;
  };
  SeqRecord& RecordFor(SeqId seq, int64_t pos, int32_t token);
  std::vector<SeqRecord> records_;  // in creation order; a reused id starts a new record
  std::map<SeqId, size_t> live_;    // seq id -> its current record
};

struct Divergence {
  int64_t layer = 0;  // n_layers for the final logits
  std::string op;
  int64_t head = -1;  // -1 for rows without heads
  int64_t position = 0;
  double max_abs_diff = 0.0;  // over the row (NaN when a NaN is involved)
  int64_t differing_elements = 0;
  int64_t compared_rows = 0;  // rows present in both traces
};

// The first difference, or nullopt when every row present in both traces is bitwise equal.
std::optional<Divergence> FirstDifference(const Trace& a, const Trace& b,
                                          int64_t* compared_rows = nullptr);

}  // namespace detinfer::verify

#endif  // DETINFER_VERIFY_LOCALISER_H_
