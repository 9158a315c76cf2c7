#include "server/engine_loop.h"

#include <utility>

#include "engine/sample_group.h"

namespace detinfer::server {

namespace {

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

const Status& LoopStoppingError() {
  static const Status kStopping =
      Status::ResourceExhausted("the server is shutting down; the command was not run");
  return kStopping;
}

RequestResult Failed(const std::string& id, Status status) {
  RequestResult r;
  r.id = id;
  r.status = std::move(status);
  r.finish = FinishReason::kError;
  return r;
}

}  // namespace

void Doorbell::Ring() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    rung_ = true;
  }
  cv_.notify_all();
}

void Doorbell::Wait(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return rung_; });
  rung_ = false;
}

void Channel::Push(StreamToken t) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tokens_.push_back(std::move(t));
  }
  cv_.notify_all();
  if (bell_) bell_->Ring();
}

void Channel::Finish(RequestResult result) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    result_ = std::move(result);
  }
  cv_.notify_all();
  if (bell_) bell_->Ring();
}

bool Channel::Wait(std::chrono::milliseconds timeout, std::vector<StreamToken>* tokens,
                   std::optional<RequestResult>* result) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !tokens_.empty() || result_.has_value(); });
  for (StreamToken& t : tokens_) tokens->push_back(std::move(t));
  tokens_.clear();
  if (!result_) return false;
  *result = std::move(result_);
  result_.reset();
  return true;
}

EngineLoop::EngineLoop(Engine& engine, const EngineLoopOptions& options, Metrics* metrics)
    : engine_(engine), options_(options), metrics_(metrics) {
  engine_.SetOnTokenEvent([this](const TokenEvent& e) { OnToken(e); });
  version_ = engine_.weight_version();
  paused_ = engine_.paused();
  PublishGauges();
  thread_ = std::thread([this] { Run(); });
}

EngineLoop::~EngineLoop() { Shutdown(std::chrono::milliseconds(0)); }

EngineLoop::Admission EngineLoop::Enqueue(Job job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_.load()) return Admission::kStopping;
    if (static_cast<int64_t>(queue_.size()) + running_ >=
        options_.max_running + options_.max_queued) {
      return Admission::kFull;
    }
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
  return Admission::kAccepted;
}

void EngineLoop::Shutdown(std::chrono::milliseconds grace) {
  stopping_.store(true);
  cv_.notify_all();
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, grace, [&] { return exited_; });
    cancel_all_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void EngineLoop::Run() {
  for (;;) {
    std::vector<Job> start;
    std::deque<std::shared_ptr<Command>> commands;
    bool cancel_all = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      const bool paused = engine_.paused();
      const auto ready = [&] {
        if (cancel_all_ || !commands_.empty() || stopping_.load()) return true;
        return !paused && (!live_.empty() || !held_.empty() || !queue_.empty());
      };
      // Paused, nothing runs; wake now and then anyway to drop requests whose client left.
      if (paused) {
        cv_.wait_for(lock, std::chrono::milliseconds(50), ready);
      } else {
        cv_.wait(lock, ready);
      }
      cancel_all = cancel_all_;
      commands.swap(commands_);
      if (!cancel_all && commands.empty() && stopping_.load() && queue_.empty() &&
          live_.empty() && held_.empty()) {
        break;
      }
      if (cancel_all) {
        for (Job& j : queue_) start.push_back(std::move(j));
        queue_.clear();
      } else if (commands.empty() && !paused) {
        // Admission order is arrival order; the engine serves its requests first come, first
        // served, so an early request is never starved by later ones. (Not while commands
        // wait: a pause applies to the requests accepted before it, queued ones included.)
        while (!queue_.empty() &&
               static_cast<int64_t>(live_.size() + held_.size() + start.size()) <
                   options_.max_running) {
          start.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        running_ += static_cast<int64_t>(start.size());
      }
    }
    if (cancel_all) {
      const Status bye = Status::ResourceExhausted(
          "the server is shutting down; the request was cancelled");
      for (Job& j : start) j.channel->Finish(Failed(j.request.id, bye));
      for (auto& c : commands) c->done.set_value(LoopStoppingError());
      FailAll(bye);
      break;
    }
    RunCommands(std::move(commands));
    // Shutting down: the accepted requests get their grace period to finish.
    if (stopping_.load() && engine_.paused()) {
      engine_.Resume();
      std::lock_guard<std::mutex> lock(mu_);
      paused_ = false;
    }
    StartJobs(std::move(start));
    DropCancelled();
    if (engine_.paused()) {
      DeliverFinished();
      PublishGauges();
      continue;
    }
    ReleaseHeld();
    if (engine_.HasWork()) {
      const Status s = engine_.Step();
      if (!s.ok()) FailAll(s);
    }
    // Before any result goes out: a client that reads /metrics after its response then sees
    // the counters with that response's step in them.
    PublishGauges();
    DeliverFinished();
    ReleaseHeld();
    PublishGauges();  // without the finished requests
  }
  PublishGauges();
  {
    std::lock_guard<std::mutex> lock(mu_);
    exited_ = true;
    for (auto& c : commands_) c->done.set_value(LoopStoppingError());
    commands_.clear();
  }
  cv_.notify_all();
}

void EngineLoop::DeliverFinished() {
  for (RequestResult& r : engine_.TakeFinished()) {
    auto it = live_.find(r.submission);
    if (it == live_.end()) continue;  // cancelled meanwhile
    const Live& l = it->second;
    metrics_->CountTokens(l.prompt_tokens, static_cast<int64_t>(r.tokens.size()));
    metrics_->ObserveRequestDuration(Seconds(Clock::now() - l.arrival));
    l.channel->Finish(std::move(r));
    live_.erase(it);
  }
}

Status EngineLoop::RunOnEngineThread(std::function<Status()> fn) {
  auto command = std::make_shared<Command>();
  command->run = std::move(fn);
  std::future<Status> done = command->done.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_.load() || exited_) return LoopStoppingError();
    commands_.push_back(command);
  }
  cv_.notify_all();
  return done.get();
}

void EngineLoop::RunCommands(std::deque<std::shared_ptr<Command>> commands) {
  for (auto& c : commands) {
    const Status s = c->run();
    {
      std::lock_guard<std::mutex> lock(mu_);
      version_ = engine_.weight_version();
      paused_ = engine_.paused();
    }
    c->done.set_value(s);
  }
}

void EngineLoop::AbortUnstarted(Job& job) {
  RequestResult r;
  r.id = job.request.id;
  r.finish = FinishReason::kAbort;
  r.fingerprint = Fingerprint(r.tokens, r.logprobs);
  r.weight_version = engine_.weight_version();
  metrics_->CountCancelled();
  job.channel->Finish(std::move(r));
}

Status EngineLoop::Pause(Engine::PauseMode mode) {
  return RunOnEngineThread([this, mode] {
    DETINFER_RETURN_IF_ERROR(engine_.Pause(mode));
    if (mode != Engine::PauseMode::kAbort) return Status::Ok();
    // The engine ended its requests; end those accepted but not in it yet the same way
    // (scoring jobs are not generation: they wait for Resume).
    std::deque<Job> queued;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queued.swap(queue_);
    }
    for (Job& j : queued) {
      if (j.kind == Job::Kind::kGenerate) {
        AbortUnstarted(j);
      } else {
        std::lock_guard<std::mutex> lock(mu_);
        queue_.push_back(std::move(j));
      }
    }
    for (Job& j : held_) AbortUnstarted(j);
    held_.clear();
    DeliverFinished();
    PublishGauges();
    return Status::Ok();
  });
}

Status EngineLoop::Resume() {
  return RunOnEngineThread([this] {
    engine_.Resume();
    return Status::Ok();
  });
}

Status EngineLoop::FlushCache() {
  return RunOnEngineThread([this] { return engine_.FlushCache(); });
}

Status EngineLoop::UpdateWeightsFromDisk(const std::string& path) {
  return RunOnEngineThread([this, &path] { return engine_.UpdateWeightsFromDisk(path); });
}

Status EngineLoop::UpdateWeightsFromTensors(std::span<const NamedTensor> tensors) {
  return RunOnEngineThread([this, tensors] { return engine_.UpdateWeightsFromTensors(tensors); });
}

WeightVersion EngineLoop::weight_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

bool EngineLoop::paused() const {
  std::lock_guard<std::mutex> lock(mu_);
  return paused_;
}

void EngineLoop::StartJobs(std::vector<Job> jobs) {
  for (Job& j : jobs) {
    if (j.channel->cancelled()) {
      metrics_->CountCancelled();
      if (j.group && j.sample == 0) j.group->leader_gone = true;
      continue;
    }
    if (j.kind == Job::Kind::kScore) {
      RunScore(j);
      continue;
    }
    if (j.group && j.sample > 0) {
      held_.push_back(std::move(j));  // ReleaseHeld submits it when its leader allows
      continue;
    }
    SubmitJob(j);
  }
}

void EngineLoop::SubmitJob(Job& j) {
  const uint64_t submission = engine_.next_submission();
  const int64_t prompt = static_cast<int64_t>(j.request.prompt.size());
  const std::string id = j.request.id;
  const Status s = engine_.Submit(std::move(j.request));
  if (j.group && j.sample == 0) {
    if (s.ok()) {
      j.group->leader = submission;
    } else {
      j.group->leader_gone = true;
    }
  }
  if (!s.ok()) {
    j.channel->Finish(Failed(id, s));
    return;
  }
  live_[submission] = Live{j.channel, j.arrival, j.arrival, 0, prompt};
}

void EngineLoop::ReleaseHeld() {
  std::vector<Job> still;
  for (Job& j : held_) {
    const SampleGroupLink& g = *j.group;
    if (j.channel->cancelled()) {
      metrics_->CountCancelled();
      continue;
    }
    if (g.leader_gone || (g.leader && ReadyToFollow(engine_, *g.leader, j.request))) {
      SubmitJob(j);
    } else {
      still.push_back(std::move(j));
    }
  }
  held_ = std::move(still);
}

void EngineLoop::RunScore(Job& j) {
  // Scoring runs its own one-sequence prefill on a scratch cache (Engine::Score), between two
  // steps of the batch: it shares nothing with the running requests.
  auto lp = engine_.Score(j.request.prompt, j.completion);
  if (!lp.ok()) {
    j.channel->Finish(Failed(j.request.id, lp.status()));
    return;
  }
  RequestResult r;
  r.id = j.request.id;
  r.tokens = j.completion;
  r.logprobs = std::move(lp).value();
  r.fingerprint = Fingerprint(r.tokens, r.logprobs);
  r.finish = FinishReason::kLength;
  r.weight_version = engine_.weight_version();
  metrics_->CountTokens(static_cast<int64_t>(j.request.prompt.size() + j.completion.size()), 0);
  j.channel->Finish(std::move(r));
}

void EngineLoop::DropCancelled() {
  for (auto it = live_.begin(); it != live_.end();) {
    if (it->second.channel->cancelled()) {
      engine_.Cancel(it->first);
      metrics_->CountCancelled();
      it = live_.erase(it);
    } else {
      ++it;
    }
  }
}

void EngineLoop::FailAll(const Status& status) {
  for (Job& j : held_) {
    if (status.code() == StatusCode::kResourceExhausted) metrics_->CountCancelled();
    j.channel->Finish(Failed(j.request.id, status));
  }
  held_.clear();
  for (auto& [submission, l] : live_) {
    engine_.Cancel(submission);
    if (status.code() == StatusCode::kResourceExhausted) metrics_->CountCancelled();
    l.channel->Finish(Failed("", status));
  }
  live_.clear();
}

void EngineLoop::OnToken(const TokenEvent& e) {
  auto it = live_.find(e.submission);
  if (it == live_.end()) return;
  Live& l = it->second;
  const Clock::time_point now = Clock::now();
  if (l.tokens == 0) {
    metrics_->ObserveTimeToFirstToken(Seconds(now - l.arrival));
  } else {
    metrics_->ObserveInterTokenLatency(Seconds(now - l.last_token));
  }
  l.last_token = now;
  ++l.tokens;
  if (!l.channel->streaming()) return;
  StreamToken t{e.token, e.logprob, e.sampling_logprob, {}, std::string(e.text)};
  if (e.top != nullptr) t.top = *e.top;
  l.channel->Push(std::move(t));
}

void EngineLoop::PublishGauges() {
  const PagedKvCache& c = engine_.cache();
  EngineGauges g;
  g.running = static_cast<int64_t>(live_.size() + held_.size());
  g.kv_blocks_total = c.num_blocks();
  g.kv_blocks_used = c.num_blocks() - c.available_blocks();
  g.kv_blocks_cached = c.available_blocks() - c.free_blocks();
  g.prefix_lookup_tokens = c.prefix_stats().looked_up_tokens;
  g.prefix_hit_tokens = c.prefix_stats().hit_tokens;
  g.spec_verify_passes = engine_.speculative_stats().verify_passes;
  g.spec_proposed = engine_.speculative_stats().proposed;
  g.spec_accepted = engine_.speculative_stats().accepted;
  std::lock_guard<std::mutex> lock(mu_);
  running_ = g.running;
  gauges_ = g;
}

EngineGauges EngineLoop::Gauges() const {
  std::lock_guard<std::mutex> lock(mu_);
  EngineGauges g = gauges_;
  g.queued = static_cast<int64_t>(queue_.size());
  return g;
}

}  // namespace detinfer::server
