// The GRPO loop's pieces for Python (examples/grpo_verbs.py): the verb-grammar task (its 266
// tense prompts as ids, and the checker's reward of a completion) and the learner
// (train/policy_trainer.h: trainer logprobs, the policy gradient, clipping, AdamW, the new
// weights as numpy arrays for LLM.update_weights). With the seeds and advantages of src/rl/grpo.h
// a Python loop runs exactly `detinfer rl`'s algorithm, so the two give the same weights, bit
// for bit (tests/python/test_grpo.py).
#include <pybind11/stl.h>

#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "corpus/tense_eval.h"
#include "corpus/verb_corpus.h"
#include "detinfer/runtime.h"
#include "model/loader.h"
#include "rl/grpo.h"
#include "rl/grpo_report.h"
#include "train/policy_gradient.h"
#include "train/policy_trainer.h"
#include "train/trainer.h"

namespace detinfer::python {

namespace {

class PyVerbTask {
 public:
  PyVerbTask() {
    VerbCorpusOptions co;  // only the vocabulary is used: the grammar fixes it
    co.train_sentences = 1;
    co.heldout_sentences = 1;
    auto corpus = GenerateVerbCorpus(co);
    if (!corpus.ok()) Raise(corpus.status());
    corpus_ = std::move(*corpus);
    prompts_ = TenseEvalPrompts();
  }
  size_t size() const { return prompts_.size(); }
  py::array_t<int32_t> PromptIds(size_t i) const {
    return ToArray(TensePromptIds(corpus_, At(i)));
  }
  py::dict Check(size_t i, const std::vector<int32_t>& completion) const {
    const ContinuationCheck c = CheckContinuation(corpus_, At(i), completion);
    py::dict d;
    d["tense_agrees"] = c.tense_agrees;
    d["person_agrees"] = c.person_agrees;
    d["grammatical"] = c.grammatical;
    d["reward"] = RewardOf(c);
    return d;
  }
  int32_t bos_id() const { return corpus_.bos_id; }
  int32_t eos_id() const { return corpus_.eos_id; }
  int64_t vocab_size() const { return static_cast<int64_t>(corpus_.vocab.size()); }

 private:
  const TensePrompt& At(size_t i) const {
    if (i >= prompts_.size()) {
      Raise(Status::OutOfRange("prompt index " + std::to_string(i) + " is past the task's " +
                               std::to_string(prompts_.size()) + " prompts"));
    }
    return prompts_[i];
  }
  VerbCorpus corpus_;
  std::vector<TensePrompt> prompts_;
};

class PyPolicyTrainer {
 public:
  PyPolicyTrainer(const std::string& model, double lr, double kl_coef, double clip_norm,
                  int threads, const std::string& init, uint64_t init_seed) {
    if (init != "model" && init != "random") {
      Raise(Status::InvalidArgument("init must be 'model' or 'random', got '" + init + "'"));
    }
    Status st;
    {
      py::gil_scoped_release nogil;
      st = Build(model, lr, kl_coef, clip_norm, threads, init, init_seed);
    }
    if (!st.ok()) Raise(st);
  }

  // samples: (tokens = prompt + completion, prompt_tokens, advantage) each, in the loss's order
  // (group-major). Returns the trainer's logprob of every completion token per sample, and the
  // step's loss, mean k3 (kl), completion tokens and gradient norm.
  py::dict Step(const std::vector<std::tuple<std::vector<int32_t>, int64_t, double>>& samples) {
    std::vector<PolicySample> ps(samples.size());
    for (size_t i = 0; i < samples.size(); ++i) {
      ps[i].tokens = std::get<0>(samples[i]);
      ps[i].prompt_tokens = std::get<1>(samples[i]);
      ps[i].advantage = std::get<2>(samples[i]);
    }
    Result<PolicyStepResult> r = Status::Internal("not run");
    {
      py::gil_scoped_release nogil;
      r = learner_->Step(ps);
    }
    if (!r.ok()) Raise(r.status());
    py::list logprobs;
    for (const PolicySampleResult& s : r->batch.samples) logprobs.append(ToArray(s.logprobs));
    py::dict d;
    d["logprobs"] = logprobs;
    d["loss"] = r->batch.loss;
    d["kl"] = r->batch.kl;
    d["tokens"] = r->batch.tokens;
    d["grad_norm"] = r->grad_norm;
    return d;
  }

  // Every tensor by its Hugging Face name, float32 in its shape: LLM.update_weights takes it.
  py::dict NamedTensors() const {
    auto tensors = learner_->NamedTensors();
    if (!tensors.ok()) Raise(tensors.status());
    py::dict d;
    for (const NamedTensor& t : *tensors) {
      std::vector<py::ssize_t> shape(t.shape.begin(), t.shape.end());
      py::array_t<float> a(shape);
      std::memcpy(a.mutable_data(), t.bytes.data(), t.bytes.size());
      d[py::str(t.name)] = a;
    }
    return d;
  }

  std::string ParamsHashHex() const { return HashHex(ParamsHash(learner_->params())); }
  int64_t steps_done() const { return learner_->steps_done(); }

 private:
  Status Build(const std::string& model, double lr, double kl_coef, double clip_norm,
               int threads, const std::string& init, uint64_t init_seed) {
    DETINFER_ASSIGN_OR_RETURN(runtime_, MakeRuntime(threads, NameStyle::kKeyword));
    DETINFER_ASSIGN_OR_RETURN(ModelWeights w, LoadModel(model));
    DETINFER_ASSIGN_OR_RETURN(ParamLayout layout, ParamLayout::Create(w.config));
    std::vector<float> params;
    if (init == "random") {
      params = InitParams(layout, init_seed);
    } else {
      DETINFER_ASSIGN_OR_RETURN(params, WeightsToParams(layout, w));
    }
    // The options `detinfer rl` gives the learner (GrpoOptions' defaults beside these).
    const GrpoOptions defaults;
    PolicyTrainerOptions o;
    o.lr = lr;
    o.adamw = defaults.adamw;
    o.clip_norm = clip_norm;
    o.kl_coef = kl_coef;
    o.isa = runtime_.ctx.isa;
    DETINFER_ASSIGN_OR_RETURN(learner_, PolicyTrainer::Create(w.config, std::move(params), o,
                                                              runtime_.pool.get()));
    return Status::Ok();
  }

  Runtime runtime_;
  std::unique_ptr<PolicyTrainer> learner_;
};

}  // namespace

void BindRl(py::module_& m) {
  py::class_<PyVerbTask>(m, "_VerbTask")
      .def(py::init<>())
      .def("__len__", &PyVerbTask::size)
      .def("prompt_ids", &PyVerbTask::PromptIds, py::arg("index"))
      .def("check", &PyVerbTask::Check, py::arg("index"), py::arg("completion"))
      .def_property_readonly("bos_id", &PyVerbTask::bos_id)
      .def_property_readonly("eos_id", &PyVerbTask::eos_id)
      .def_property_readonly("vocab_size", &PyVerbTask::vocab_size);
  py::class_<PyPolicyTrainer>(m, "_PolicyTrainer")
      .def(py::init<const std::string&, double, double, double, int, const std::string&,
                    uint64_t>(),
           py::arg("model"), py::arg("lr"), py::arg("kl_coef"), py::arg("clip_norm"),
           py::arg("threads"), py::arg("init"), py::arg("init_seed"))
      .def("step", &PyPolicyTrainer::Step, py::arg("samples"))
      .def("named_tensors", &PyPolicyTrainer::NamedTensors)
      .def("params_hash", &PyPolicyTrainer::ParamsHashHex)
      .def_property_readonly("steps_done", &PyPolicyTrainer::steps_done);
  m.def("rollout_seed", &RolloutSeed, py::arg("seed"), py::arg("step"), py::arg("slot"));
  m.def("batch_indices", &BatchIndices, py::arg("seed"), py::arg("step"), py::arg("batch_size"),
        py::arg("n"));
  m.def(
      "group_advantages",
      [](const std::vector<double>& rewards, double eps) { return GroupAdvantages(rewards, eps); },
      py::arg("rewards"), py::arg("eps") = GrpoOptions{}.advantage_eps);
}

}  // namespace detinfer::python
