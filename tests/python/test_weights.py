"""Weight updates, pause and resume from Python: an updated engine gives the bits of a fresh one
loaded with the new weights (SPEC §A11), and a refused update leaves the old weights serving."""

import numpy as np
import pytest

import detinfer

PARAMS = detinfer.SamplingParams(n=3, temperature=1.0, seed=17, max_tokens=20, ignore_eos=True)
PROMPTS = ["Yesterday I", "Tomorrow they"]


def fingerprints(llm):
    return [[(c.token_ids.tolist(), c.logprobs.view(np.uint32).tolist(), c.fingerprint)
             for c in r.outputs] for r in llm.generate(PROMPTS, PARAMS)]


def test_update_weights_gives_a_fresh_engines_bits(model_dir, new_weights):
    path, changed = new_weights
    fresh = detinfer.LLM(path, threads=1)
    llm = detinfer.LLM(model_dir, threads=2)
    old = fingerprints(llm)
    assert llm.weight_version.counter == 0
    version = llm.update_weights(changed)
    assert version.counter == 1 and version == llm.weight_version
    assert version.hash == fresh.weight_version.hash != detinfer.LLM(model_dir).weight_version.hash
    assert str(version) == f"1:{version.hash:016x}"
    new = fingerprints(llm)
    assert new == fingerprints(fresh)
    assert new != old
    out = llm.generate("Yesterday I", detinfer.SamplingParams(max_tokens=4))[0].outputs[0]
    assert out.weight_version == version and not out.mixed_weights


def test_update_weights_from_disk_gives_a_fresh_engines_bits(model_dir, new_weights):
    path, _ = new_weights
    llm = detinfer.LLM(model_dir, threads=2)
    version = llm.update_weights_from_disk(path)
    assert version.counter == 1
    assert fingerprints(llm) == fingerprints(detinfer.LLM(path, threads=1))
    # And back: the original weights give the original bits again.
    assert llm.update_weights_from_disk(model_dir).counter == 2
    assert fingerprints(llm) == fingerprints(detinfer.LLM(model_dir, threads=1))


def test_bad_updates_raise_naming_the_tensor_and_keep_the_old_weights(model_dir, new_weights):
    _, changed = new_weights
    name, good = next(iter(changed.items()))
    llm = detinfer.LLM(model_dir, threads=2)
    before, version = fingerprints(llm), llm.weight_version
    bad = [
        ({"model.layers.1.self_attn.nope.weight": good}, "nope"),
        ({name: good[:, :-1].copy()}, name),                      # wrong shape
        ({name: good.astype(np.float64)}, name + ".*float64"),   # not a weight dtype
        ({name: good.astype(np.float16)}, name),                  # not the model's dtype
        ({name: good, "model.norm.weight": np.zeros((3,), np.float32)}, "model.norm.weight"),
        ({name: [1.0, 2.0]}, name),                               # not an array
    ]
    for tensors, message in bad:
        with pytest.raises(ValueError, match=message):
            llm.update_weights(tensors)
        assert llm.weight_version == version
    with pytest.raises(Exception, match="no-such-dir"):
        llm.update_weights_from_disk(model_dir + "/no-such-dir")
    with pytest.raises(TypeError):
        llm.update_weights([(name, good)])
    assert llm.weight_version == version
    assert fingerprints(llm) == before


def test_pause_resume(model_dir):
    llm = detinfer.LLM(model_dir, threads=2)
    before = fingerprints(llm)
    with pytest.raises(ValueError, match="sideways"):
        llm.pause("sideways")
    assert not llm.paused
    for mode in ("abort", "retract", "in_place"):
        llm.pause(mode)
        assert llm.paused
        with pytest.raises(RuntimeError, match="resume"):
            llm.generate("Yesterday I")
        llm.resume()
        assert not llm.paused
    assert fingerprints(llm) == before
