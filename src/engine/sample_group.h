// Groups: n samples of one prompt (what GRPO-style RL calls a group), each one an ordinary
// request of its own.
//
// Seeds. Sample i of a request with seed s is the same request with seed SampleSeed(s, i):
// sample 0 keeps s (so n = 1 is exactly the plain request), sample i > 0 gets
// SplitMix64(s + i * 0x9E3779B97F4A7C15) (the SplitMix64 finaliser of a Weyl step; a fixed
// function, documented in docs/engine.md). So the samples draw differently, and any one of them
// is reproduced alone by submitting the request with that derived seed. A greedy request
// (temperature 0) draws nothing: its n samples are n identical copies, as they should be.
//
// Shared prompt. Nothing here touches the step core: sample 0 is submitted first and the others
// are held back until its prompt's K/V are in the cache. Every full block of the prompt is then
// published to the prefix cache (engine.h), so each later sample attaches those blocks when it
// is admitted and computes only the prompt's last, partial block (at least one token, whose
// logits it needs). A prefix-cache hit gives the bits of a cold prefill (SPEC §A4), so each
// sample's tokens, logprobs and fingerprint are those of its single request run alone; its
// `cached_tokens` shows the reuse. With the prefix cache off (or a request that wants prompt
// logprobs, which never attaches cached blocks) there is nothing to share and no sample waits.
#ifndef DETINFER_ENGINE_SAMPLE_GROUP_H_
#define DETINFER_ENGINE_SAMPLE_GROUP_H_

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"
#include "engine/request.h"

namespace detinfer {

// Most samples one request may ask for (library, CLI `--n`, server `n`): a group's samples all
// run at once, and a larger group is better sent as several requests with their own seeds.
inline constexpr int32_t kMaxSamplesPerPrompt = 128;

// The seed of sample `sample` (0-based) of a request seeded `seed`; sample 0's is `seed`.
uint64_t SampleSeed(uint64_t seed, int32_t sample);

// OK when n is in [1, kMaxSamplesPerPrompt]; otherwise an error naming `n` and the range.
Status ValidateSampleCount(int64_t n);

// Sample `sample` of `base`: the same request with the derived seed (id unchanged).
Request SampleOf(const Request& base, int32_t sample);

// Whether a later sample of a group whose sample 0 was submitted as `leader` should be submitted
// now: the leader's computed K/V cover every prompt block the sample can reuse, or the leader is
// no longer running (finished, cancelled), or the sample cannot reuse anything.
bool ReadyToFollow(const Engine& engine, uint64_t leader, const Request& sample);

// Like Engine::Generate, for `n` samples of each request: returns, per request, its n results
// in sample order (a request that Submit rejects has the error in each of its samples). Requests
// run together, sample 0 of each first; results of requests submitted earlier through
// Engine::Submit that finish meanwhile are appended to `others` (dropped when null).
std::vector<std::vector<RequestResult>> GenerateSamples(
    Engine& engine, std::vector<Request> requests, int32_t n,
    std::vector<RequestResult>* others = nullptr);

}  // namespace detinfer

#endif  // DETINFER_ENGINE_SAMPLE_GROUP_H_
