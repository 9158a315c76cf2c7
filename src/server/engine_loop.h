// EngineLoop: the one thread that owns the Engine, and the channels HTTP handler threads use to
// talk to it.
//
// The Engine is single-threaded (Submit/Step/TakeFinished). Handler threads never touch it:
// they put a Job on a bounded queue and wait on the job's Channel, which the engine thread
// fills with tokens as they are sampled and with the final result. A handler whose client went
// away marks its channel cancelled; the engine thread then calls Engine::Cancel, which returns
// the request's KV blocks at once. Because a request's bits do not depend on what else the
// engine runs (engine/engine.h), nothing here can change them: the loop only decides when.
#ifndef DETINFER_SERVER_ENGINE_LOOP_H_
#define DETINFER_SERVER_ENGINE_LOOP_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/engine.h"
#include "server/metrics.h"

namespace detinfer::server {

using Clock = std::chrono::steady_clock;

struct StreamToken {
  int32_t token = 0;
  float logprob = 0.0f;
  float sampling_logprob = 0.0f;
  std::vector<TokenLogprob> top;
  // The text this token made final (TokenEvent::text): the engine holds back an incomplete
  // character and what could still start a stop string, so these concatenate to the final text.
  std::string text;
};

// Wakes one reader that waits on several channels at once (a streamed response with n choices):
// every Push or Finish on a channel with this doorbell rings it.
class Doorbell {
 public:
  void Ring();
  // Returns once rung since the last Wait (at once if it was), or after `timeout`.
  void Wait(std::chrono::milliseconds timeout);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool rung_ = false;
};

// One request's mailbox: written by the engine thread, read by one handler thread.
class Channel {
 public:
  // A non-streaming request's channel gets only the result: waking its handler thread for
  // every token would cost a context switch per token for nothing.
  explicit Channel(bool streaming = false, std::shared_ptr<Doorbell> bell = nullptr)
      : streaming_(streaming), bell_(std::move(bell)) {}
  bool streaming() const { return streaming_; }
  void Push(StreamToken t);
  void Finish(RequestResult result);
  // Waits up to `timeout` for tokens or the result; moves what arrived into the outputs.
  // Returns true once the result is there (it is then in `*result`).
  bool Wait(std::chrono::milliseconds timeout, std::vector<StreamToken>* tokens,
            std::optional<RequestResult>* result);
  // Handler side: the client is gone; the engine thread drops the request.
  void Cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<StreamToken> tokens_;
  std::optional<RequestResult> result_;
  std::atomic<bool> cancelled_{false};
  const bool streaming_;
  const std::shared_ptr<Doorbell> bell_;
};

// The samples of one prompt (a request's `n`). Sample 0 goes to the engine first; the others
// wait in the loop until its prompt's K/V are in the cache, so they reuse them
// (engine/sample_group.h). Touched by the engine thread only.
struct SampleGroupLink {
  std::optional<uint64_t> leader;  // sample 0's submission, once submitted
  bool leader_gone = false;        // sample 0 never reached the engine (rejected, cancelled)
};

struct Job {
  enum class Kind { kGenerate, kScore } kind = Kind::kGenerate;
  // Sample `sample` of a group (null: a request alone); sample 0 is the group's leader.
  std::shared_ptr<SampleGroupLink> group;
  int32_t sample = 0;
  Request request;                  // kGenerate; for kScore, prompt only
  std::vector<int32_t> completion;  // kScore
  std::shared_ptr<Channel> channel;
  Clock::time_point arrival = Clock::now();
};

struct EngineLoopOptions {
  int64_t max_running = 32;  // requests in the engine at once (its batch)
  int64_t max_queued = 64;   // accepted requests waiting beyond those
};

class EngineLoop {
 public:
  EngineLoop(Engine& engine, const EngineLoopOptions& options, Metrics* metrics);
  ~EngineLoop();
  EngineLoop(const EngineLoop&) = delete;
  EngineLoop& operator=(const EngineLoop&) = delete;

  enum class Admission { kAccepted, kFull, kStopping };
  Admission Enqueue(Job job);

  // Stops taking jobs, lets the accepted ones finish for up to `grace`, then cancels the rest
  // (their channels get a "server shutting down" error) and joins the thread.
  void Shutdown(std::chrono::milliseconds grace);
  bool stopping() const { return stopping_.load(); }

  EngineGauges Gauges() const;

  // Weight updates, pause and resume (docs/rl.md, "Server endpoints"): each runs on the engine
  // thread between two steps — never during one — and returns the engine's status once done.
  // Refused (ResourceExhausted) once the loop is stopping. Pause(kAbort) also ends the requests
  // accepted but not yet in the engine (queued here, or samples held for their leader), with
  // finish reason abort and nothing generated. While paused the loop submits nothing new:
  // requests that arrive wait in the queue until Resume(). Stopping resumes, so the accepted
  // requests can finish within the shutdown grace.
  Status Pause(Engine::PauseMode mode);
  Status Resume();
  Status FlushCache();
  Status UpdateWeightsFromDisk(const std::string& path);
  // `tensors`' bytes need only live until this returns.
  Status UpdateWeightsFromTensors(std::span<const NamedTensor> tensors);
  // As of the last command (safe from any thread).
  WeightVersion weight_version() const;
  bool paused() const;

 private:
  // A call a handler thread waits on, run by the engine thread between steps.
  struct Command {
    std::function<Status()> run;
    std::promise<Status> done;
  };
  Status RunOnEngineThread(std::function<Status()> fn);
  void RunCommands(std::deque<std::shared_ptr<Command>> commands);
  // Ends a job that never reached the engine with finish reason abort.
  void AbortUnstarted(Job& job);
  // Hands the engine's finished results to their channels.
  void DeliverFinished();
  struct Live {
    std::shared_ptr<Channel> channel;
    Clock::time_point arrival, last_token;
    size_t tokens = 0;
    int64_t prompt_tokens = 0;
  };
  void Run();
  void StartJobs(std::vector<Job> jobs);
  void SubmitJob(Job& job);
  // Submits the held samples whose group's prompt is now cached (or whose leader is gone).
  void ReleaseHeld();
  void RunScore(Job& job);
  void DropCancelled();
  void FailAll(const Status& status);
  void PublishGauges();
  void OnToken(const TokenEvent& e);

  Engine& engine_;
  EngineLoopOptions options_;
  Metrics* metrics_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;        // guarded by mu_
  std::deque<std::shared_ptr<Command>> commands_;  // guarded by mu_
  WeightVersion version_;        // guarded by mu_: the engine's, after the last command
  bool paused_ = false;          // guarded by mu_: the engine's, after the last command
  int64_t running_ = 0;          // guarded by mu_ (written by the engine thread)
  bool cancel_all_ = false;      // guarded by mu_: the grace period is over
  std::atomic<bool> stopping_{false};
  bool exited_ = false;          // guarded by mu_
  std::map<uint64_t, Live> live_;  // engine thread only: submission -> request
  std::vector<Job> held_;          // engine thread only: samples waiting for their leader
  EngineGauges gauges_;                          // guarded by mu_
  std::thread thread_;
};

}  // namespace detinfer::server

#endif  // DETINFER_SERVER_ENGINE_LOOP_H_
