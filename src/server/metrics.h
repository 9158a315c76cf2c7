// Server metrics in the Prometheus text format (version 0.0.4): request and token counters,
// gauges of the engine's state, and latency histograms. All methods are thread-safe.
#ifndef DETINFER_SERVER_METRICS_H_
#define DETINFER_SERVER_METRICS_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace detinfer::server {

// Cumulative histogram with fixed upper bounds (seconds), as Prometheus expects.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);
  // "<name>_bucket{le=...} n" lines, then _sum and _count.
  void Render(const std::string& name, std::string* out) const;
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> buckets_;  // per bound (not cumulative); the +Inf bucket is count_
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

// What the engine loop reports at render time.
struct EngineGauges {
  int64_t queued = 0;            // accepted, not yet in the engine
  int64_t running = 0;           // in the engine (prefilling or decoding)
  int64_t kv_blocks_total = 0;
  int64_t kv_blocks_used = 0;    // held by unfinished requests
  int64_t kv_blocks_cached = 0;  // held only by the prefix cache (reusable, evictable)
  int64_t prefix_lookup_tokens = 0;
  int64_t prefix_hit_tokens = 0;
  // Speculative decoding (serve --speculative), cumulative.
  int64_t spec_verify_passes = 0;
  int64_t spec_proposed = 0;
  int64_t spec_accepted = 0;
};

class Metrics {
 public:
  Metrics();
  void CountRequest(const std::string& endpoint, int status);
  void CountTokens(int64_t prompt, int64_t generated);
  void CountCancelled();
  void ObserveTimeToFirstToken(double seconds);
  void ObserveInterTokenLatency(double seconds);
  void ObserveRequestDuration(double seconds);
  std::string Render(const EngineGauges& gauges) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  uint64_t prompt_tokens_ = 0, generated_tokens_ = 0, cancelled_ = 0;
  Histogram ttft_, itl_, duration_;
};

}  // namespace detinfer::server

#endif  // DETINFER_SERVER_METRICS_H_
