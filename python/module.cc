// _detinfer: the C++ side of the Python package (python/detinfer/__init__.py wraps it in LLM,
// SamplingParams and the output classes). One _Engine holds a runtime, a loaded model and an
// engine, built with the library's public headers (include/detinfer/) exactly as the CLI
// builds them, so a request gives the CLI's bits.
//
// The GIL is released while the engine loads, steps, scores or updates: other Python threads
// run meanwhile. The engine itself runs one call at a time (a mutex, taken without the GIL so
// that a waiting thread never blocks one that holds the GIL).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <limits>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "core/dtype.h"
#include "detinfer/engine.h"
#include "detinfer/load.h"
#include "detinfer/runtime.h"

namespace py = pybind11;

namespace detinfer::python {

[[noreturn]] void Raise(const Status& s) {
  PyObject* type = PyExc_RuntimeError;
  if (s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kOutOfRange) {
    type = PyExc_ValueError;
  } else if (s.code() == StatusCode::kNotFound) {
    type = PyExc_FileNotFoundError;
  }
  PyErr_SetString(type, s.message().c_str());
  throw py::error_already_set();
}

// Engine text is UTF-8; a byte sequence that is not (it cannot happen, but a str conversion
// must never throw halfway through a batch of results) becomes U+FFFD.
py::str ToStr(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

// For input that names things (tensors): a name the model lacks is bad input, ValueError, not
// a missing file.
[[noreturn]] void RaiseBadInput(const Status& s) {
  if (s.code() == StatusCode::kNotFound) Raise(Status::InvalidArgument(s.message()));
  Raise(s);
}

py::tuple VersionTuple(const WeightVersion& v) { return py::make_tuple(v.counter, v.hash); }

// The sampling values of one generate() call (SamplingParams, flattened by __init__.py).
struct Sampling {
  int32_t n = 1;
  int32_t max_tokens = 16;
  float temperature = 0.0f, top_p = 1.0f, min_p = 0.0f;
  int32_t top_k = 0;
  uint64_t seed = 0;
  int32_t logprobs = 0;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;
  bool ignore_eos = false;
  bool skip_special_tokens = true;
  float repetition_penalty = 1.0f, presence_penalty = 0.0f, frequency_penalty = 0.0f;
  int32_t min_tokens = 0;
};

class PyEngine {
 public:
  PyEngine(const std::string& model, const std::string& tokenizer, int threads,
           const EngineConfig& config, const std::string& weight_cache) {
    Status st;
    {
      py::gil_scoped_release nogil;
      st = Load(model, tokenizer, threads, config, weight_cache);
    }
    if (!st.ok()) Raise(st);
  }

  // Text -> ids as `detinfer generate --prompt` encodes it (with BOS) when `bos`, else as
  // `detinfer score --completion` (without); the second item is the unknown-token warning or "".
  std::pair<std::vector<int32_t>, std::string> Encode(const std::string& what,
                                                      const std::string& text, bool bos) const {
    std::string warning;
    auto ids = EncodeText(bundle_.tokenizer.get(), bundle_.tokenizer_source, what, text, bos,
                          NameStyle::kKeyword, &warning);
    if (!ids.ok()) Raise(ids.status());
    return {std::move(*ids), std::move(warning)};
  }

  py::list Generate(const std::vector<std::vector<int32_t>>& prompts, const Sampling& s) {
    if (Status v = ValidateSampleCount(s.n); !v.ok()) {
      Raise(Status::InvalidArgument("SamplingParams.n: " + v.message()));
    }
    std::vector<Request> requests;
    for (size_t i = 0; i < prompts.size(); ++i) {
      Request r;
      r.id = std::to_string(i);
      r.prompt = prompts[i];
      r.max_new_tokens = s.max_tokens;
      r.sampling = {s.temperature, s.top_k, s.top_p, s.min_p, s.seed,
                    {s.repetition_penalty, s.frequency_penalty, s.presence_penalty}};
      r.min_tokens = s.min_tokens;
      r.top_logprobs = s.logprobs;
      r.stop_strings = s.stop;
      r.stop_ids = s.stop_token_ids;
      r.skip_special_tokens = s.skip_special_tokens;
      AddEosStop(bundle_.tokenizer.get(), s.ignore_eos, &r);
      requests.push_back(std::move(r));
    }
    std::vector<std::vector<RequestResult>> results;
    Status st;
    {
      py::gil_scoped_release nogil;
      std::lock_guard lock(mu_);
      // Step() runs nothing while paused: generating now would never finish.
      if (engine_->paused()) {
        st = Status::Unsupported(
            "generate: the engine is paused (pause()); call resume() first");
      } else {
        results = GenerateSamples(*engine_, std::move(requests), s.n);
      }
    }
    if (!st.ok()) Raise(st);
    py::list out;
    for (size_t i = 0; i < results.size(); ++i) {
      py::list samples;
      for (size_t k = 0; k < results[i].size(); ++k) {
        const RequestResult& r = results[i][k];
        // A request the engine refused (bad token id, sampling value, too long) names itself.
        if (!r.status.ok()) {
          Raise(Status(r.status.code(), "prompts[" + std::to_string(i) + "]: " + r.status.message()));
        }
        samples.append(ResultDict(r, s, static_cast<int32_t>(k)));
      }
      out.append(std::move(samples));
    }
    return out;
  }

  py::array_t<float> Score(const std::vector<int32_t>& prompt,
                           const std::vector<int32_t>& completion) {
    Result<std::vector<float>> lp = Status::Internal("score: not run");
    {
      py::gil_scoped_release nogil;
      std::lock_guard lock(mu_);
      lp = engine_->Score(prompt, completion);
    }
    if (!lp.ok()) Raise(lp.status());
    return ToArray(*lp);
  }

  // {name: array}: every array's dtype must be the model's for that tensor (float32, float16,
  // or ml_dtypes' bfloat16); the engine checks names and shapes and keeps the old weights on
  // any error.
  py::tuple UpdateWeights(const py::dict& tensors) {
    std::vector<py::array> keep;  // holds the (contiguous) arrays while the engine reads them
    std::vector<NamedTensor> named;
    for (const auto& [key, value] : tensors) {
      if (!py::isinstance<py::str>(key)) {
        Raise(Status::InvalidArgument("update_weights: tensor names must be str, got " +
                                      std::string(py::str(py::type::of(key)))));
      }
      NamedTensor t;
      t.name = key.cast<std::string>();
      if (!py::isinstance<py::array>(value)) {
        Raise(Status::InvalidArgument("update_weights: '" + t.name + "' must be a numpy array, got " +
                                      std::string(py::str(py::type::of(value)))));
      }
      py::array a = py::array::ensure(value, py::array::c_style);
      if (!a) throw py::error_already_set();
      const std::string dtype_name = py::str(a.dtype());
      const char kind = a.dtype().kind();
      if (kind == 'f' && a.itemsize() == 4) {
        t.dtype = DType::kF32;
      } else if (kind == 'f' && a.itemsize() == 2) {
        t.dtype = DType::kF16;
      } else if (dtype_name == "bfloat16" && a.itemsize() == 2) {
        t.dtype = DType::kBF16;
      } else {
        Raise(Status::InvalidArgument("update_weights: '" + t.name + "' has numpy dtype " +
                                      dtype_name +
                                      "; weights are float32, float16 or bfloat16 (ml_dtypes), "
                                      "the dtype the model stores that tensor in"));
      }
      for (py::ssize_t d = 0; d < a.ndim(); ++d) t.shape.push_back(a.shape(d));
      t.bytes = std::span<const uint8_t>(static_cast<const uint8_t*>(a.data()),
                                         static_cast<size_t>(a.nbytes()));
      named.push_back(std::move(t));
      keep.push_back(std::move(a));
    }
    Status st;
    {
      py::gil_scoped_release nogil;
      std::lock_guard lock(mu_);
      st = engine_->UpdateWeightsFromTensors(named);
    }
    if (!st.ok()) RaiseBadInput(st);
    return weight_version();
  }

  py::tuple UpdateWeightsFromDisk(const std::string& path) {
    return Update([&] { return engine_->UpdateWeightsFromDisk(path); });
  }

  void Pause(const std::string& mode) {
    auto m = ParsePauseMode(mode);
    if (!m.ok()) Raise(m.status());
    Locked([&] { return engine_->Pause(*m); });
  }
  void Resume() {
    Locked([&] {
      engine_->Resume();
      return Status::Ok();
    });
  }
  void FlushCache() {
    Locked([&] { return engine_->FlushCache(); });
  }
  bool paused() {
    std::lock_guard lock(mu_);
    return engine_->paused();
  }

  py::tuple weight_version() {
    std::lock_guard lock(mu_);
    return VersionTuple(engine_->weight_version());
  }
  // The schedule id of what is served now: after a weight update it names the new weights
  // (as the server's does).
  std::string schedule_id() {
    std::lock_guard lock(mu_);
    ScheduleInputs in = schedule_;
    if (engine_->weight_version().counter > 0) in.weight_hash = engine_->weight_version().hash;
    return ScheduleId(in);
  }
  int64_t vocab_size() const { return bundle_.model->config().vocab_size; }
  int64_t context_len() const { return bundle_.model->config().max_seq_len; }
  int32_t eos_token_id() const { return bundle_.tokenizer ? bundle_.tokenizer->eos_id() : -1; }
  bool has_tokenizer() const { return bundle_.tokenizer != nullptr; }
  std::string tokenizer_source() const { return bundle_.tokenizer_source; }
  std::string isa() const { return std::string(IsaName(runtime_.ctx.isa)); }
  uint64_t model_hash() const { return bundle_.model_hash; }

 private:
  Status Load(const std::string& model, const std::string& tokenizer, int threads,
              const EngineConfig& config, const std::string& weight_cache) {
    DETINFER_ASSIGN_OR_RETURN(runtime_, MakeRuntime(threads, NameStyle::kKeyword));
    DETINFER_ASSIGN_OR_RETURN(bundle_, LoadModelBundle(model, tokenizer, runtime_.ctx,
                                                       BundleOptionsFor(weight_cache)));
    DETINFER_ASSIGN_OR_RETURN(
        const EngineOptions opts,
        MakeEngineOptions(config, bundle_.model->config(), NameStyle::kKeyword));
    // The updatable overload (a non-const model): update_weights* change it in place.
    DETINFER_ASSIGN_OR_RETURN(engine_, Engine::Create(*bundle_.model, runtime_.ctx, opts,
                                                      bundle_.tokenizer.get()));
    schedule_ = {runtime_.ctx.isa, opts.kv_dtype, bundle_.model_hash, bundle_.tokenizer_hash};
    return Status::Ok();
  }

  // Runs fn on the engine without the GIL, under the engine's lock; raises its error.
  template <typename F>
  void Locked(F&& fn) {
    Status st;
    {
      py::gil_scoped_release nogil;
      std::lock_guard lock(mu_);
      st = fn();
    }
    if (!st.ok()) Raise(st);
  }
  template <typename F>
  py::tuple Update(F&& fn) {
    Locked(std::forward<F>(fn));
    return weight_version();
  }

  py::dict ResultDict(const RequestResult& r, const Sampling& s, int32_t sample) const {
    py::dict d;
    d["index"] = sample;
    d["seed"] = SampleSeed(s.seed, sample);
    d["token_ids"] = ToArray(r.tokens);
    d["text"] = bundle_.tokenizer ? py::object(ToStr(r.text)) : py::object(py::none());
    d["logprobs"] = ToArray(r.logprobs);
    d["sampling_logprobs"] = ToArray(r.sampling_logprobs);
    if (s.logprobs > 0) {
      // [tokens, logprobs] arrays; a row may list fewer alternatives than asked (a small
      // vocabulary): the rest is token -1, logprob -inf.
      const auto rows = static_cast<py::ssize_t>(r.top_logprobs.size());
      py::array_t<int32_t> ids({rows, static_cast<py::ssize_t>(s.logprobs)});
      py::array_t<float> lps({rows, static_cast<py::ssize_t>(s.logprobs)});
      auto iv = ids.mutable_unchecked<2>();
      auto lv = lps.mutable_unchecked<2>();
      for (py::ssize_t i = 0; i < rows; ++i) {
        const auto& alts = r.top_logprobs[static_cast<size_t>(i)];
        for (py::ssize_t k = 0; k < s.logprobs; ++k) {
          const bool have = static_cast<size_t>(k) < alts.size();
          iv(i, k) = have ? alts[static_cast<size_t>(k)].token : -1;
          lv(i, k) = have ? alts[static_cast<size_t>(k)].logprob
                          : -std::numeric_limits<float>::infinity();
        }
      }
      d["top_token_ids"] = ids;
      d["top_logprobs"] = lps;
    } else {
      d["top_token_ids"] = py::none();
      d["top_logprobs"] = py::none();
    }
    d["finish_reason"] = std::string(FinishReasonName(r.finish));
    d["fingerprint"] = r.fingerprint;
    d["weight_version"] = VersionTuple(r.weight_version);
    d["mixed_weights"] = r.mixed_weights;
    d["cached_tokens"] = r.cached_tokens;
    d["preemptions"] = r.preemptions;
    return d;
  }

  Runtime runtime_;
  ModelBundle bundle_;
  std::unique_ptr<Engine> engine_;
  ScheduleInputs schedule_;
  std::mutex mu_;
};

}  // namespace detinfer::python

PYBIND11_MODULE(_detinfer, m) {
  using detinfer::EngineConfig;
  using detinfer::python::PyEngine;
  using detinfer::python::Sampling;
  m.doc() = "detinfer's engine (use the detinfer package: LLM, SamplingParams)";
  m.attr("__version__") = DETINFER_VERSION;
  detinfer::python::BindRl(m);
  m.attr("MAX_SAMPLES_PER_PROMPT") = detinfer::kMaxSamplesPerPrompt;

  py::class_<Sampling>(m, "_Sampling")
      .def(py::init<>())
      .def_readwrite("n", &Sampling::n)
      .def_readwrite("max_tokens", &Sampling::max_tokens)
      .def_readwrite("temperature", &Sampling::temperature)
      .def_readwrite("top_p", &Sampling::top_p)
      .def_readwrite("top_k", &Sampling::top_k)
      .def_readwrite("min_p", &Sampling::min_p)
      .def_readwrite("seed", &Sampling::seed)
      .def_readwrite("logprobs", &Sampling::logprobs)
      .def_readwrite("stop", &Sampling::stop)
      .def_readwrite("stop_token_ids", &Sampling::stop_token_ids)
      .def_readwrite("ignore_eos", &Sampling::ignore_eos)
      .def_readwrite("skip_special_tokens", &Sampling::skip_special_tokens)
      .def_readwrite("repetition_penalty", &Sampling::repetition_penalty)
      .def_readwrite("presence_penalty", &Sampling::presence_penalty)
      .def_readwrite("frequency_penalty", &Sampling::frequency_penalty)
      .def_readwrite("min_tokens", &Sampling::min_tokens);

  py::class_<PyEngine>(m, "_Engine")
      .def(py::init([](const std::string& model, const std::string& tokenizer, int threads,
                       const std::string& kv_dtype, int64_t chunk, int64_t block,
                       int64_t kv_capacity, bool prefix_cache, const std::string& weight_cache) {
             EngineConfig c;
             c.kv_dtype = kv_dtype;
             c.chunk = chunk;
             c.block = block;
             c.kv_capacity = kv_capacity;
             c.prefix_cache = prefix_cache;
             return std::make_unique<PyEngine>(model, tokenizer, threads, c, weight_cache);
           }),
           py::arg("model"), py::arg("tokenizer"), py::arg("threads"), py::arg("kv_dtype"),
           py::arg("chunk"), py::arg("block"), py::arg("kv_capacity"), py::arg("prefix_cache"),
           py::arg("weight_cache"))
      .def("encode", &PyEngine::Encode, py::arg("what"), py::arg("text"), py::arg("bos"))
      .def("generate", &PyEngine::Generate, py::arg("prompts"), py::arg("sampling"))
      .def("score", &PyEngine::Score, py::arg("prompt"), py::arg("completion"))
      .def("update_weights", &PyEngine::UpdateWeights, py::arg("tensors"))
      .def("update_weights_from_disk", &PyEngine::UpdateWeightsFromDisk, py::arg("path"))
      .def("pause", &PyEngine::Pause, py::arg("mode"))
      .def("resume", &PyEngine::Resume)
      .def("flush_cache", &PyEngine::FlushCache)
      .def_property_readonly("paused", &PyEngine::paused)
      .def_property_readonly("weight_version", &PyEngine::weight_version)
      .def_property_readonly("schedule_id", &PyEngine::schedule_id)
      .def_property_readonly("vocab_size", &PyEngine::vocab_size)
      .def_property_readonly("context_len", &PyEngine::context_len)
      .def_property_readonly("eos_token_id", &PyEngine::eos_token_id)
      .def_property_readonly("has_tokenizer", &PyEngine::has_tokenizer)
      .def_property_readonly("tokenizer_source", &PyEngine::tokenizer_source)
      .def_property_readonly("isa", &PyEngine::isa)
      .def_property_readonly("model_hash", &PyEngine::model_hash);
}
