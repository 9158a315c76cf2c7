"""detinfer: bitwise-reproducible LLM inference from Python.

    import detinfer
    llm = detinfer.LLM("models/verbs", threads=4)
    out = llm.generate(["the dog"], detinfer.SamplingParams(n=4, seed=1, temperature=0.8))
    for c in out[0].outputs:
        print(c.seed, c.token_ids, c.logprobs, c.fingerprint_hex)

Every result has the bits `detinfer generate --json` gives for the same request: the same token
ids, raw logprobs (`logprobs`, temperature 1: what policy-gradient ratios need) and processed
ones (`sampling_logprobs`, under the sampling distribution), the same fingerprint. Sample i of a
group (n > 1) is the single request with seed `outputs[i].seed` (docs/rl.md).

An LLM runs one call at a time (the GIL is released while it works, so other Python threads
run). It is synchronous: pause() affects the calls after it, not one in progress; for pausing
requests in flight, use `detinfer serve` (docs/rl.md).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Optional, Sequence, Union

import numpy as np

from ._detinfer import MAX_SAMPLES_PER_PROMPT, __version__, _Engine, _Sampling

__all__ = ["LLM", "SamplingParams", "RequestOutput", "CompletionOutput", "WeightVersion",
           "MAX_SAMPLES_PER_PROMPT", "__version__"]

Prompt = Union[str, Sequence[int], np.ndarray]


@dataclasses.dataclass
class SamplingParams:
    """What `detinfer generate` takes as flags, with the same defaults (greedy, 16 tokens)."""
    n: int = 1                 # samples per prompt; sample i uses seed SampleSeed(seed, i)
    seed: int = 0
    temperature: float = 0.0   # 0: greedy
    top_p: float = 1.0
    top_k: int = 0             # 0: all
    min_p: float = 0.0
    max_tokens: int = 16
    stop: Union[str, Sequence[str], None] = None      # stop strings (need a tokenizer)
    stop_token_ids: Optional[Sequence[int]] = None
    logprobs: int = 0          # also report the top-N alternatives of every token
    ignore_eos: bool = False   # by default generation stops at the tokenizer's EOS
    skip_special_tokens: bool = True
    # src/engine/penalties.h: functions of the request's own tokens (every invariance holds);
    # they shape the sampled distribution, the raw logprobs stay the model's.
    repetition_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    min_tokens: int = 0        # no EOS, stop id or stop string ends a sample before this


@dataclasses.dataclass(frozen=True)
class WeightVersion:
    """The weights that computed a result: updates applied (0: as loaded) and their hash."""
    counter: int
    hash: int

    @property
    def hash_hex(self) -> str:
        return f"{self.hash:016x}"

    def __str__(self) -> str:  # "<counter>:<hash hex>", as the server reports it
        return f"{self.counter}:{self.hash_hex}"


@dataclasses.dataclass
class CompletionOutput:
    index: int                    # sample number in the group
    seed: int                     # this sample alone, with this seed, gives these bits
    token_ids: np.ndarray         # int32
    text: Optional[str]           # None without a tokenizer
    logprobs: np.ndarray          # float32, raw (temperature 1)
    sampling_logprobs: np.ndarray  # float32, under the sampling distribution
    top_token_ids: Optional[np.ndarray]  # int32 [tokens, N] with SamplingParams.logprobs = N
    top_logprobs: Optional[np.ndarray]   # float32 [tokens, N] (raw)
    finish_reason: str            # "length", "stop", "context", "abort"
    fingerprint: int              # XXH3-64 of the ids and raw logprob bits
    weight_version: WeightVersion
    mixed_weights: bool           # an update came while it was in flight
    cached_tokens: int            # prompt tokens reused from the prefix cache
    preemptions: int

    @property
    def fingerprint_hex(self) -> str:  # as `detinfer generate --json` prints it
        return f"{self.fingerprint:016x}"


@dataclasses.dataclass
class RequestOutput:
    index: int                     # position in the prompts given to generate()
    prompt_token_ids: np.ndarray   # int32
    outputs: list                  # list[CompletionOutput], n of them, in sample order
    schedule_id: str


def _is_id_list(p) -> bool:
    if isinstance(p, np.ndarray):
        return p.ndim == 1 and np.issubdtype(p.dtype, np.integer)
    return isinstance(p, (list, tuple)) and len(p) > 0 and all(
        isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in p)


class LLM:
    """A model and an engine. `model`: a Hugging Face directory, GGUF or llama2.c file.

    threads: 0 = every hardware thread (changes no bit); kv_dtype: f32, bf16 or f16 (part of
    the schedule id); chunk, block, kv_capacity (0: 8 full contexts, or what fits in 3/4 of the available memory), prefix_cache: as the
    CLI's --chunk, --block, --kv-capacity, --no-prefix-cache. weight_cache: where packed-weight
    cache files live, as the CLI's --weight-cache: a directory, "off", or None for the default
    ($DETINFER_WEIGHT_CACHE, else ~/.cache/detinfer); it changes load time and memory, never a bit.
    """

    def __init__(self, model: Union[str, os.PathLike], *, tokenizer: Union[str, os.PathLike, None] = None,
                 threads: int = 0, kv_dtype: str = "f32", chunk: int = 64, block: int = 16,
                 kv_capacity: int = 0, prefix_cache: bool = True,
                 weight_cache: Union[str, os.PathLike, None] = None):
        self._engine = _Engine(os.fspath(model), os.fspath(tokenizer) if tokenizer else "",
                               threads, kv_dtype, chunk, block, kv_capacity, prefix_cache,
                               os.fspath(weight_cache) if weight_cache is not None else "")

    # -- prompts ---------------------------------------------------------------------------
    def encode(self, text: str, *, bos: bool = True, what: str = "prompt") -> np.ndarray:
        """Token ids of `text`: with BOS as `generate --prompt`, without as `score --completion`."""
        ids, warning = self._engine.encode(what, text, bos)
        if warning:
            warnings.warn(warning, stacklevel=2)
        return np.asarray(ids, dtype=np.int32)

    def _prompt_ids(self, p, what: str, bos: bool = True) -> list:
        if isinstance(p, str):
            return self.encode(p, bos=bos, what=what).tolist()
        if _is_id_list(p):
            return [int(t) for t in p]
        raise TypeError(f"{what} must be text (str) or a non-empty list of token ids, "
                        f"got {type(p).__name__}")

    # -- generation ------------------------------------------------------------------------
    def generate(self, prompts: Union[Prompt, Sequence[Prompt]],
                 sampling_params: Optional[SamplingParams] = None) -> list:
        """One RequestOutput per prompt (a single str or id list is one prompt), each with
        sampling_params.n CompletionOutputs."""
        sp = sampling_params if sampling_params is not None else SamplingParams()
        if isinstance(prompts, str) or _is_id_list(prompts):
            prompts = [prompts]
        ids = [self._prompt_ids(p, f"prompts[{i}]") for i, p in enumerate(prompts)]
        s = _Sampling()
        s.n, s.seed, s.max_tokens, s.logprobs = sp.n, sp.seed, sp.max_tokens, sp.logprobs
        s.temperature, s.top_p, s.top_k, s.min_p = sp.temperature, sp.top_p, sp.top_k, sp.min_p
        s.stop = [sp.stop] if isinstance(sp.stop, str) else list(sp.stop or [])
        s.stop_token_ids = list(sp.stop_token_ids or [])
        s.ignore_eos, s.skip_special_tokens = sp.ignore_eos, sp.skip_special_tokens
        s.repetition_penalty, s.presence_penalty = sp.repetition_penalty, sp.presence_penalty
        s.frequency_penalty, s.min_tokens = sp.frequency_penalty, sp.min_tokens
        groups = self._engine.generate(ids, s)
        sid = self._engine.schedule_id
        out = []
        for i, (prompt, group) in enumerate(zip(ids, groups)):
            completions = []
            for d in group:
                d["weight_version"] = WeightVersion(*d["weight_version"])
                completions.append(CompletionOutput(**d))
            out.append(RequestOutput(i, np.asarray(prompt, dtype=np.int32), completions, sid))
        return out

    def score(self, prompt: Prompt, completion: Prompt) -> np.ndarray:
        """Teacher-forced raw logprobs (float32) of `completion` after `prompt`: bit for bit
        the logprobs generation reports for those tokens (SPEC §R1). Text is encoded as the
        CLI's `score` does: the prompt with BOS, the completion without."""
        p = self._prompt_ids(prompt, "prompt")
        c = self._prompt_ids(completion, "completion", bos=False)
        return self._engine.score(p, c)

    # -- weights and control (docs/rl.md) --------------------------------------------------
    def update_weights(self, tensors: dict) -> WeightVersion:
        """Replace tensors in place: {Hugging Face name: numpy array of the model's dtype and
        shape}. Checked in full first: on any error (ValueError naming the tensor) nothing
        changed and the old weights keep serving. Returns the new version."""
        if not isinstance(tensors, dict):
            raise TypeError(f"update_weights takes a dict of name -> numpy array, "
                            f"got {type(tensors).__name__}")
        return WeightVersion(*self._engine.update_weights(tensors))

    def update_weights_from_disk(self, path: Union[str, os.PathLike]) -> WeightVersion:
        """Load the weights of the model at `path` (same architecture and shapes)."""
        return WeightVersion(*self._engine.update_weights_from_disk(os.fspath(path)))

    def pause(self, mode: str = "abort") -> None:
        """abort, retract or in_place (Engine::PauseMode). Until resume(), generate() raises."""
        self._engine.pause(mode)

    def resume(self) -> None:
        self._engine.resume()

    def flush_cache(self) -> None:
        """Forget every cached prompt prefix (changes no bit; only what is recomputed)."""
        self._engine.flush_cache()

    # -- what is served ----------------------------------------------------------------------
    @property
    def weight_version(self) -> WeightVersion:
        return WeightVersion(*self._engine.weight_version)

    @property
    def schedule_id(self) -> str:
        return self._engine.schedule_id

    @property
    def paused(self) -> bool:
        return self._engine.paused

    @property
    def vocab_size(self) -> int:
        return self._engine.vocab_size

    @property
    def context_len(self) -> int:
        return self._engine.context_len

    @property
    def eos_token_id(self) -> Optional[int]:
        e = self._engine.eos_token_id
        return None if e < 0 else e

    @property
    def isa(self) -> str:
        return self._engine.isa
