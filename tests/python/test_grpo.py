"""examples/grpo_verbs.py, the GRPO loop written with the package (detinfer.rl + LLM), against
the C++ loop `detinfer rl` with the same flags: the same rewards, losses, weight versions and
final weights, bit for bit; the rollout/trainer mismatch exactly 0 on every step; the same log
bytes on any thread count; and with bf16 rollout KV a mismatch that is not 0."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import detinfer
from detinfer import rl

FLAGS = ["--steps", "3", "--prompts", "3", "--n", "4", "--max-new-tokens", "8", "--seed", "5"]


@pytest.fixture(scope="module")
def example(model_dir):
    script = os.path.join(os.path.dirname(os.environ["DETINFER_MODELS"]), "examples",
                          "grpo_verbs.py")

    def run(out, *extra):
        r = subprocess.run([sys.executable, script, model_dir, "--out", str(out), *FLAGS,
                            *map(str, extra)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        with open(os.path.join(out, "rl_log.json"), "rb") as f:
            return f.read()

    return run


def test_python_loop_is_detinfer_rl_bit_for_bit(example, cli, model_dir, tmp_path):
    for extra in ([], ["--kl", "0.05"], ["--init", "random", "--lr", "3e-3"]):
        py = json.loads(example(tmp_path / "py", "--threads", 2, *extra))
        cli("rl", model_dir, "--out", tmp_path / "cc", *FLAGS, "--threads", 1, "--no-eval", *extra)
        with open(tmp_path / "cc" / "rl_log.json") as f:
            cc = json.load(f)
        assert len(py["steps"]) == len(cc["steps"]) == 3
        for a, b in zip(py["steps"], cc["steps"]):
            for key in ("mean_reward", "tense_agreement", "zero_advantage_groups", "samples",
                        "tokens", "loss", "kl", "grad_norm", "max_abs_mismatch",
                        "mismatched_tokens"):
                assert a[key] == b[key], (extra, a["step"], key, a[key], b[key])
            assert a["max_abs_mismatch"] == 0 and a["mismatched_tokens"] == 0
            assert a["tokens"] > 0
            if "random" not in extra:  # random init: the LLM took one extra update first
                assert a["weight_version"] == b["weight_version"]
        assert py["final"]["params_hash"] == cc["final"]["params_hash"], extra


def test_same_log_bytes_on_any_thread_count(example, tmp_path):
    assert example(tmp_path / "t1", "--threads", 1) == example(tmp_path / "t2", "--threads", 2)


def test_bf16_rollout_kv_shows_a_mismatch(example, tmp_path):
    log = json.loads(example(tmp_path / "bf16", "--rollout-kv-dtype", "bf16"))
    assert log["final"]["mismatched_tokens"] > 0
    assert log["final"]["max_abs_mismatch"] > 0


def test_learner_logprobs_are_the_engines(llm, model_dir):
    """The learner's logprob of a completion is score()'s (the engine's), bit for bit, and a
    zero advantage leaves the weights as they were."""
    task = rl.VerbTask()
    prompt = task.prompt_ids(0)
    [out] = llm.generate(prompt, detinfer.SamplingParams(temperature=1.0, seed=2, max_tokens=6,
                                                         stop_token_ids=[task.eos_id],
                                                         ignore_eos=True))
    completion = out.outputs[0].token_ids
    learner = rl.PolicyTrainer(model_dir, threads=1)
    before = learner.params_hash()
    res = learner.step([(np.concatenate([prompt, completion]), len(prompt), 0.0)])
    assert res["logprobs"][0].tobytes() == llm.score(prompt, completion).tobytes()
    assert res["logprobs"][0].tobytes() == out.outputs[0].logprobs.tobytes()
    assert learner.params_hash() == before
    assert learner.steps_done == 1


def test_bad_input_names_the_problem(model_dir):
    task = rl.VerbTask()
    with pytest.raises(ValueError, match="prompt index 9999"):
        task.check(9999, [1])
    with pytest.raises(ValueError, match="init"):
        rl.PolicyTrainer(model_dir, init="zeros")
    with pytest.raises(FileNotFoundError):
        rl.PolicyTrainer(os.path.join(model_dir, "missing"))
    learner = rl.PolicyTrainer(model_dir, threads=1)
    with pytest.raises(ValueError):
        learner.step([([1, 2, 3], 5, 1.0)])  # more prompt tokens than the sequence has
    assert rl.group_advantages([1.0, 1.0, 1.0]) == [0.0, 0.0, 0.0]
    assert len(task) == 266 and task.prompt_ids(0)[0] == task.bos_id
