#include "engine/sample_group.h"

#include <map>
#include <optional>
#include <string>
#include <utility>

namespace detinfer {

namespace {

// A later sample of a group, waiting for its sample 0's prompt to be in the cache.
struct HeldSample {
  size_t request;
  int32_t sample;
  uint64_t leader;  // submission of the group's sample 0
};

// Where a submitted sample's result goes.
struct SampleSlot {
  size_t request;
  int32_t sample;
};

RequestResult FailedSample(const Request& r, Status status) {
  RequestResult out;
  out.id = r.id;
  out.status = std::move(status);
  out.finish = FinishReason::kError;
  return out;
}

}  // namespace

uint64_t SampleSeed(uint64_t seed, int32_t sample) {
  if (sample == 0) return seed;
  // SplitMix64 (Steele, Lea, Flood 2014) of the sample's Weyl step: consecutive samples get
  // unrelated seeds, and no sample i > 0 maps back onto the plain seed by construction of a
  // simple offset.
  uint64_t z = seed + static_cast<uint64_t>(sample) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

Status ValidateSampleCount(int64_t n) {
  if (n < 1 || n > kMaxSamplesPerPrompt) {
    return Status::InvalidArgument("n (samples per prompt) must be in [1, " +
                                   std::to_string(kMaxSamplesPerPrompt) + "], got " +
                                   std::to_string(n));
  }
  return Status::Ok();
}

Request SampleOf(const Request& base, int32_t sample) {
  Request r = base;
  r.sampling.seed = SampleSeed(base.sampling.seed, sample);
  return r;
}

bool ReadyToFollow(const Engine& engine, uint64_t leader, const Request& sample) {
  // Nothing to reuse: a request that wants prompt logprobs computes its whole prompt anyway.
  if (!engine.cache().prefix_cache_enabled() || sample.prompt_logprobs) return true;
  // The blocks AttachPrefix can give it: whole blocks, leaving at least one token to compute.
  const int64_t block = engine.cache().config().block_size;
  const int64_t reusable = (static_cast<int64_t>(sample.prompt.size()) - 1) / block * block;
  if (reusable <= 0) return true;
  const std::optional<int64_t> computed = engine.ComputedTokens(leader);
  return !computed || *computed >= reusable;
}

std::vector<std::vector<RequestResult>> GenerateSamples(Engine& engine,
                                                        std::vector<Request> requests, int32_t n,
                                                        std::vector<RequestResult>* others) {
  std::vector<std::vector<RequestResult>> results(requests.size());
  if (const Status bad = ValidateSampleCount(n); !bad.ok()) {
    for (size_t i = 0; i < requests.size(); ++i) {
      results[i].push_back(FailedSample(requests[i], bad));
    }
    return results;
  }
  std::map<uint64_t, SampleSlot> running;  // submission -> its result's place
  std::vector<HeldSample> held;
  auto submit = [&](size_t i, int32_t sample) -> std::optional<uint64_t> {
    Request r = SampleOf(requests[i], sample);
    const uint64_t submission = engine.next_submission();
    const Status s = engine.Submit(std::move(r));
    if (!s.ok()) {
      results[i][static_cast<size_t>(sample)] = FailedSample(requests[i], s);
      return std::nullopt;
    }
    running[submission] = {i, sample};
    return submission;
  };
  for (size_t i = 0; i < requests.size(); ++i) {
    results[i].resize(static_cast<size_t>(n));
    const std::optional<uint64_t> leader = submit(i, 0);
    for (int32_t k = 1; k < n; ++k) {
      if (leader) {
        held.push_back({i, k, *leader});
      } else {  // the same request with another seed: rejected for the same reason
        results[i][static_cast<size_t>(k)] = results[i][0];
      }
    }
  }
  auto release = [&] {
    size_t kept = 0;
    for (const HeldSample& h : held) {
      if (ReadyToFollow(engine, h.leader, requests[h.request])) {
        submit(h.request, h.sample);
      } else {
        held[kept++] = h;
      }
    }
    held.resize(kept);
  };
  release();
  while (!running.empty() || !held.empty()) {
    // With nothing running, no leader is either: every held sample is ready.
    if (!engine.HasWork()) {
      if (held.empty()) break;  // cannot happen: a running sample is the engine's work
      release();
      continue;
    }
    const Status s = engine.Step();
    if (!s.ok()) {  // an engine fault: reported on every sample not finished
      for (const auto& [submission, slot] : running) {
        engine.Cancel(submission);
        results[slot.request][static_cast<size_t>(slot.sample)] =
            FailedSample(requests[slot.request], s);
      }
      for (const HeldSample& h : held) {
        results[h.request][static_cast<size_t>(h.sample)] = FailedSample(requests[h.request], s);
      }
      break;
    }
    for (RequestResult& r : engine.TakeFinished()) {
      const auto it = running.find(r.submission);
      if (it == running.end()) {
        if (others != nullptr) others->push_back(std::move(r));
        continue;
      }
      results[it->second.request][static_cast<size_t>(it->second.sample)] = std::move(r);
      running.erase(it);
    }
    release();
  }
  return results;
}

}  // namespace detinfer
