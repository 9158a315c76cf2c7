#include "verify/localiser.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace detinfer::verify {

TraceRecorder::SeqRecord& TraceRecorder::RecordFor(SeqId seq, int64_t pos, int32_t token) {
  auto it = live_.find(seq);
  if (it != live_.end()) {
    SeqRecord& r = records_[it->second];
    auto t = r.tokens.find(pos);
    // The same id with other tokens is another sequence (scratch caches reuse ids).
    if (t == r.tokens.end() || t->second == token) {
      r.tokens[pos] = token;
      return r;
    }
  }
  records_.push_back(SeqRecord{seq, {{pos, token}}, {}});
  live_[seq] = records_.size() - 1;
  return records_.back();
}

void TraceRecorder::OnTap(const Tap& tap) {
  for (size_t r = 0; r < tap.rows.size(); ++r) {
    const TapRow& row = tap.rows[r];
    SeqRecord& rec = RecordFor(row.seq, row.pos, row.token);
    const float* src = tap.data + static_cast<int64_t>(r) * tap.stride;
    TraceRow& dst = rec.rows[{tap.layer, static_cast<int>(tap.op), row.pos}];
    dst.values.assign(src, src + tap.width);
    dst.head_dim = tap.head_dim;
  }
}

Trace TraceRecorder::TraceOf(std::span<const int32_t> tokens) const {
  Trace out;
  for (const SeqRecord& rec : records_) {
    bool match = !rec.tokens.empty();
    for (const auto& [pos, tok] : rec.tokens) {
      if (pos >= static_cast<int64_t>(tokens.size()) || tokens[static_cast<size_t>(pos)] != tok) {
        match = false;
        break;
      }
    }
    if (!match) continue;
    for (const auto& [key, row] : rec.rows) out[key] = row;
  }
  return out;
}

std::optional<Divergence> FirstDifference(const Trace& a, const Trace& b,
                                          int64_t* compared_rows) {
  int64_t compared = 0;
  std::optional<Divergence> found;
  for (const auto& [key, ra] : a) {
    auto it = b.find(key);
    if (it == b.end()) continue;
    ++compared;
    const TraceRow& rb = it->second;
    if (ra.values.size() == rb.values.size() &&
        std::memcmp(ra.values.data(), rb.values.data(), ra.values.size() * sizeof(float)) == 0) {
      continue;
    }
    Divergence d;
    d.layer = std::get<0>(key);
    d.op = TapOpName(static_cast<TapOp>(std::get<1>(key)));
    d.position = std::get<2>(key);
    const size_t n = std::min(ra.values.size(), rb.values.size());
    for (size_t i = 0; i < n; ++i) {
      if (std::memcmp(&ra.values[i], &rb.values[i], sizeof(float)) == 0) continue;
      if (d.differing_elements++ == 0 && ra.head_dim > 0) {
        d.head = static_cast<int64_t>(i) / ra.head_dim;
      }
      const double diff = std::fabs(static_cast<double>(ra.values[i]) - rb.values[i]);
      if (std::isnan(diff)) {
        d.max_abs_diff = std::numeric_limits<double>::quiet_NaN();
      } else if (!std::isnan(d.max_abs_diff)) {
        d.max_abs_diff = std::max(d.max_abs_diff, diff);
      }
    }
    found = d;
    break;
  }
  if (found) found->compared_rows = compared;
  if (compared_rows != nullptr) *compared_rows = compared;
  return found;
}

}  // namespace detinfer::verify
