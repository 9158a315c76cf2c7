#include "server/metrics.h"

#include <charconv>
#include <cmath>

namespace detinfer::server {

namespace {

// The shortest text that reads back as `v` (0.005, not 0.0050000000000000001), written as
// Python's repr and Go's Prometheus client write it: plain digits for magnitudes from 1e-4 up
// to 1e16 (0.0005, 30, 12345), an exponent beyond (1e-05); NaN and infinities in Prometheus'
// spelling.
std::string Num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  const double a = std::fabs(v);
  const bool plain = a == 0.0 || (a >= 1e-4 && a < 1e16);
  char buf[400];
  const auto r = std::to_chars(buf, buf + sizeof buf, v,
                               plain ? std::chars_format::fixed : std::chars_format::scientific);
  return std::string(buf, r.ptr);
}

void Line(std::string* out, const std::string& name, const std::string& labels, double v) {
  *out += name;
  if (!labels.empty()) {
    *out += '{';
    *out += labels;
    *out += '}';
  }
  *out += ' ';
  *out += Num(v);
  *out += '\n';
}

void Header(std::string* out, const std::string& name, const char* type, const char* help) {
  *out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(bounds_.size(), 0) {}

void Histogram::Observe(double value) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    if (value <= bounds_[i]) {
      ++buckets_[i];
      break;
    }
  }
  sum_ += value;
  ++count_;
}

void Histogram::Render(const std::string& name, std::string* out) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += buckets_[i];
    Line(out, name + "_bucket", "le=\"" + Num(bounds_[i]) + "\"", double(cumulative));
  }
  Line(out, name + "_bucket", "le=\"+Inf\"", double(count_));
  Line(out, name + "_sum", "", sum_);
  Line(out, name + "_count", "", double(count_));
}

Metrics::Metrics()
    : ttft_({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      itl_({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}),
      duration_({0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}) {}

void Metrics::CountRequest(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
}

void Metrics::CountTokens(int64_t prompt, int64_t generated) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += uint64_t(prompt);
  generated_tokens_ += uint64_t(generated);
}

void Metrics::CountCancelled() {
  std::lock_guard<std::mutex> lock(mu_);
  ++cancelled_;
}

void Metrics::ObserveTimeToFirstToken(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  ttft_.Observe(s);
}

void Metrics::ObserveInterTokenLatency(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  itl_.Observe(s);
}

void Metrics::ObserveRequestDuration(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  duration_.Observe(s);
}

std::string Metrics::Render(const EngineGauges& g) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  Header(&out, "detinfer_requests_total", "counter", "HTTP requests by endpoint and status code.");
  for (const auto& [key, n] : requests_) {
    Line(&out, "detinfer_requests_total",
         "endpoint=\"" + key.first + "\",code=\"" + std::to_string(key.second) + "\"", double(n));
  }
  Header(&out, "detinfer_prompt_tokens_total", "counter", "Prompt tokens of finished requests.");
  Line(&out, "detinfer_prompt_tokens_total", "", double(prompt_tokens_));
  Header(&out, "detinfer_generation_tokens_total", "counter", "Generated tokens.");
  Line(&out, "detinfer_generation_tokens_total", "", double(generated_tokens_));
  Header(&out, "detinfer_requests_cancelled_total", "counter",
         "Requests dropped before finishing (client gone or shutdown).");
  Line(&out, "detinfer_requests_cancelled_total", "", double(cancelled_));
  Header(&out, "detinfer_queue_depth", "gauge", "Requests accepted and waiting for the engine.");
  Line(&out, "detinfer_queue_depth", "", double(g.queued));
  Header(&out, "detinfer_requests_running", "gauge", "Requests in the engine.");
  Line(&out, "detinfer_requests_running", "", double(g.running));
  Header(&out, "detinfer_kv_blocks_total", "gauge", "KV cache blocks.");
  Line(&out, "detinfer_kv_blocks_total", "", double(g.kv_blocks_total));
  Header(&out, "detinfer_kv_blocks_used", "gauge", "KV blocks held by unfinished requests.");
  Line(&out, "detinfer_kv_blocks_used", "", double(g.kv_blocks_used));
  Header(&out, "detinfer_kv_blocks_cached", "gauge",
         "KV blocks held only by the prefix cache (reusable, evicted on demand).");
  Line(&out, "detinfer_kv_blocks_cached", "", double(g.kv_blocks_cached));
  Header(&out, "detinfer_prefix_cache_hit_rate", "gauge",
         "Prompt tokens served from the prefix cache / prompt tokens looked up.");
  Line(&out, "detinfer_prefix_cache_hit_rate", "",
       g.prefix_lookup_tokens > 0 ? double(g.prefix_hit_tokens) / double(g.prefix_lookup_tokens)
                                  : 0.0);
  Header(&out, "detinfer_speculative_verify_passes_total", "counter",
         "Forward passes that checked a request's guessed tokens (serve --speculative).");
  Line(&out, "detinfer_speculative_verify_passes_total", "", double(g.spec_verify_passes));
  Header(&out, "detinfer_speculative_proposed_tokens_total", "counter",
         "Guessed tokens checked by verify passes.");
  Line(&out, "detinfer_speculative_proposed_tokens_total", "", double(g.spec_proposed));
  Header(&out, "detinfer_speculative_accepted_tokens_total", "counter",
         "Guessed tokens that were the token drawn there, hence kept (the output is the same "
         "either way).");
  Line(&out, "detinfer_speculative_accepted_tokens_total", "", double(g.spec_accepted));
  Header(&out, "detinfer_time_to_first_token_seconds", "histogram",
         "From request arrival to its first generated token.");
  ttft_.Render("detinfer_time_to_first_token_seconds", &out);
  Header(&out, "detinfer_inter_token_latency_seconds", "histogram",
         "Between consecutive generated tokens of one request.");
  itl_.Render("detinfer_inter_token_latency_seconds", &out);
  Header(&out, "detinfer_request_duration_seconds", "histogram",
         "From request arrival to its last token.");
  duration_.Render("detinfer_request_duration_seconds", &out);
  return out;
}

}  // namespace detinfer::server
