"""The package gives the CLI's bits: every property is checked against the built `detinfer`
binary's own output or against another path through the engine, never against stored values."""

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import detinfer

PROMPTS = ["Yesterday I", "Last week she", "Every day he"]


def f32(values):
    """JSON numbers (the CLI prints each float exactly, as a double) as float32 bits."""
    return np.asarray(values, dtype=np.float64).astype(np.float32)


def same_bits(a, b):
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def assert_matches_cli(c, j):
    assert j.get("error") is None, j
    assert c.seed == j["seed"]
    assert c.token_ids.dtype == np.int32 and c.token_ids.tolist() == j["tokens"]
    assert c.logprobs.dtype == np.float32 and same_bits(c.logprobs, f32(j["logprobs"]))
    assert same_bits(c.sampling_logprobs, f32(j["sampling_logprobs"]))
    assert c.fingerprint_hex == j["fingerprint"]
    assert c.text == j["text"]
    assert c.finish_reason == j["finish_reason"]
    if "top_logprobs" in j:
        assert c.top_token_ids.tolist() == [[a["token"] for a in row] for row in j["top_logprobs"]]
        assert same_bits(c.top_logprobs, f32([[a["logprob"] for a in row] for row in j["top_logprobs"]]))


def test_batch_of_text_prompts_matches_cli_requests(llm, cli, model_dir, tmp_path):
    # A batch of text prompts, sampled with groups of 3 and top-2 alternatives: the CLI runs the
    # same requests from a JSONL file, on another thread count.
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS))
    out = cli("generate", model_dir, "--requests", requests, "--n", 3, "--temperature", 0.9,
              "--top-p", 0.95, "--seed", 11, "--max-tokens", 12, "--logprobs", 2, "--threads", 1)
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 3 * len(PROMPTS)
    got = llm.generate(PROMPTS, detinfer.SamplingParams(n=3, temperature=0.9, top_p=0.95, seed=11,
                                                        max_tokens=12, logprobs=2))
    assert len(got) == len(PROMPTS)
    for i, r in enumerate(got):
        assert r.index == i and len(r.outputs) == 3
        assert r.prompt_token_ids.tolist() == lines[3 * i]["prompt_tokens"]
        assert r.schedule_id == lines[3 * i]["schedule_id"]
        for k, c in enumerate(r.outputs):
            assert c.index == k == lines[3 * i + k]["sample"]
            assert_matches_cli(c, lines[3 * i + k])


@pytest.mark.parametrize("args,params", [
    (["--max-tokens", 20], detinfer.SamplingParams(max_tokens=20)),
    (["--temperature", 1.3, "--top-k", 5, "--min-p", 0.05, "--seed", 3, "--max-tokens", 24],
     detinfer.SamplingParams(temperature=1.3, top_k=5, min_p=0.05, seed=3, max_tokens=24)),
    (["--temperature", 1.0, "--seed", 9, "--max-tokens", 30, "--ignore-eos"],
     detinfer.SamplingParams(temperature=1.0, seed=9, max_tokens=30, ignore_eos=True)),
    (["--temperature", 0.8, "--seed", 4, "--max-tokens", 20, "--repetition-penalty", 1.3,
      "--presence-penalty", 0.5, "--frequency-penalty", 0.25, "--min-tokens", 12],
     detinfer.SamplingParams(temperature=0.8, seed=4, max_tokens=20, repetition_penalty=1.3,
                             presence_penalty=0.5, frequency_penalty=0.25, min_tokens=12)),
])
def test_token_id_prompt_matches_cli(llm, cli, model_dir, args, params):
    ids = llm.encode("Yesterday I").tolist()
    j = json.loads(cli("generate", model_dir, "--ids", ",".join(map(str, ids)), "--json", *args))
    [r] = llm.generate(ids, params)
    assert r.prompt_token_ids.tolist() == ids
    assert_matches_cli(r.outputs[0], j)


def test_stop_string_matches_cli(llm, cli, model_dir):
    full = llm.generate("Yesterday I", detinfer.SamplingParams(max_tokens=12, ignore_eos=True))[0]
    words = full.outputs[0].text.split()
    assert len(words) >= 2, full.outputs[0].text
    stop = words[1]  # a stop string the greedy text reaches
    j = json.loads(cli("generate", model_dir, "--prompt", "Yesterday I", "--json", "--max-tokens", 12,
                       "--ignore-eos", "--stop", stop))
    [r] = llm.generate("Yesterday I", detinfer.SamplingParams(max_tokens=12, ignore_eos=True, stop=stop))
    assert r.outputs[0].finish_reason == "stop"
    assert_matches_cli(r.outputs[0], j)


def test_group_samples_equal_single_requests_with_derived_seeds(llm):
    p = detinfer.SamplingParams(n=5, temperature=1.0, seed=42, max_tokens=16)
    [group] = llm.generate("Tomorrow we", p)
    assert group.outputs[0].seed == 42
    assert len({c.seed for c in group.outputs}) == 5
    for c in group.outputs:
        [alone] = llm.generate("Tomorrow we", detinfer.SamplingParams(
            temperature=1.0, seed=c.seed, max_tokens=16))
        a = alone.outputs[0]
        assert a.token_ids.tolist() == c.token_ids.tolist()
        assert same_bits(a.logprobs, c.logprobs)
        assert same_bits(a.sampling_logprobs, c.sampling_logprobs)
        assert a.fingerprint == c.fingerprint


def test_score_equals_generate_logprobs_and_cli_score(llm, cli, model_dir):
    [r] = llm.generate(PROMPTS, detinfer.SamplingParams(temperature=0.8, seed=5, max_tokens=20,
                                                        ignore_eos=True))[:1]
    c = r.outputs[0]
    scored = llm.score(r.prompt_token_ids, c.token_ids)
    assert scored.dtype == np.float32
    assert same_bits(scored, c.logprobs)
    j = json.loads(cli("score", model_dir, "--ids", ",".join(map(str, r.prompt_token_ids)),
                       "--completion-ids", ",".join(map(str, c.token_ids)), "--json"))
    assert same_bits(scored, f32(j["logprobs"]))
    # Text is encoded as the CLI's score encodes it: the prompt with BOS, the completion without.
    assert same_bits(llm.score("Yesterday I", " cooked pasta"), f32(json.loads(cli(
        "score", model_dir, "--prompt", "Yesterday I", "--completion", " cooked pasta", "--json"))["logprobs"]))


def test_flush_cache_changes_no_bit(llm):
    p = detinfer.SamplingParams(n=2, temperature=1.0, seed=8, max_tokens=10)
    before = llm.generate("Last year you", p)[0].outputs
    llm.flush_cache()
    after = llm.generate("Last year you", p)[0].outputs
    assert [c.fingerprint for c in before] == [c.fingerprint for c in after]


def test_engine_runs_without_the_gil(model_dir):
    # While one thread generates, this one keeps running Python: the longest pause between two
    # of its iterations is far shorter than the generate call (the GIL was released).
    llm = detinfer.LLM(model_dir, threads=1)
    span, go = {}, threading.Event()

    def work():
        go.wait()  # starts once this thread is in its loop (Thread.start() itself could block)
        t0 = time.perf_counter()
        # Repeated until it has run long enough to tell, however fast this machine is (each
        # call releases the GIL for its whole run).
        while time.perf_counter() - t0 < 0.5:
            llm.generate(PROMPTS * 4, detinfer.SamplingParams(n=4, temperature=1.0,
                                                              max_tokens=40, ignore_eos=True))
        span["s"] = time.perf_counter() - t0

    t = threading.Thread(target=work)
    t.start()
    last, gap = time.perf_counter(), 0.0
    go.set()
    while t.is_alive():
        now = time.perf_counter()
        gap, last = max(gap, now - last), now
    t.join()
    assert span["s"] > 0.2, "generate was too quick to tell"
    assert gap < span["s"] / 2, (gap, span["s"])


def test_bad_requests_name_the_thing_at_fault(llm, model_dir):
    with pytest.raises(ValueError, match=r"prompts\[1\]"):
        llm.generate([[1, 2], [1, llm.vocab_size + 5]])
    with pytest.raises(ValueError, match="n"):
        llm.generate("Yesterday I", detinfer.SamplingParams(n=0))
    with pytest.raises(ValueError, match=r"prompts\[0\]"):
        llm.generate("Yesterday I", detinfer.SamplingParams(top_p=0.0))
    with pytest.raises(TypeError, match=r"prompts\[0\]"):
        llm.generate([3.5])
    with pytest.raises(ValueError, match="kv_dtype"):
        detinfer.LLM(model_dir, kv_dtype="q4_0")
    with pytest.raises(ValueError, match="threads"):
        detinfer.LLM(model_dir, threads=-1)
    with pytest.raises(ValueError, match="chunk"):
        detinfer.LLM(model_dir, chunk=0)
    with pytest.raises(Exception, match="no-such-model"):
        detinfer.LLM(model_dir + "/no-such-model")


def test_readme_python_block_runs_as_written(model_dir):
    # The README's Python example, run from the repository root as a reader would.
    root = os.path.dirname(os.path.dirname(model_dir))
    with open(os.path.join(root, "README.md")) as f:
        readme = f.read()
    section = readme[readme.index("\n## Python\n"):]
    code = section[section.index("```python\n") + len("```python\n"):]
    code = code[:code.index("```")]
    # The package under test (not the source folder python/, which a relative path would find).
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(detinfer.__file__)))
    r = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert "1:" in r.stdout and "2:" in r.stdout, r.stdout


def test_weight_cache_keyword_changes_no_bit(model_dir, tmp_path):
    """weight_cache= (a directory or "off", as the CLI's --weight-cache) loads the same model:
    the same tokens, logprobs and fingerprint as the default. A file where the directory should
    be is an error naming it."""
    p = detinfer.SamplingParams(temperature=1.0, seed=7, max_tokens=12)
    runs = []
    for cache in (None, "off", tmp_path / "cache"):
        llm = detinfer.LLM(model_dir, threads=2, weight_cache=cache)
        [r] = llm.generate("Tomorrow we", p)
        runs.append(r.outputs[0])
    for other in runs[1:]:
        assert other.token_ids.tolist() == runs[0].token_ids.tolist()
        assert same_bits(other.logprobs, runs[0].logprobs)
        assert other.fingerprint == runs[0].fingerprint
