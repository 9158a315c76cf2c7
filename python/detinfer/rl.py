"""The GRPO loop's pieces (docs/rl.md, "The GRPO loop"): the verb-grammar task and the learner.

    from detinfer import rl
    task = rl.VerbTask()                        # 266 tense prompts and their checker
    learner = rl.PolicyTrainer("models/verbs", lr=3e-4)
    out = learner.step([(prompt + completion, len(prompt), advantage), ...])
    llm.update_weights(learner.named_tensors())  # the rollout engine serves the new weights

`rollout_seed`, `batch_indices` and `group_advantages` are the very functions `detinfer rl`
uses, so a loop written with them (examples/grpo_verbs.py) runs its algorithm bit for bit.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from ._detinfer import _PolicyTrainer, _VerbTask, batch_indices, group_advantages, rollout_seed

__all__ = ["VerbTask", "PolicyTrainer", "rollout_seed", "batch_indices", "group_advantages"]


class VerbTask:
    """The tense prompts ("<s> Yesterday I", ...) as token ids of the verb corpus's vocabulary
    (the shipped model's), and the reward of a completion: 0.5 when its first verb's tense fits
    the prompt's time frame, + 0.25 when it agrees with the pronoun, + 0.25 for a whole sentence."""

    def __init__(self):
        self._task = _VerbTask()
        self.bos_id, self.eos_id = self._task.bos_id, self._task.eos_id

    def __len__(self) -> int:
        return len(self._task)

    def prompt_ids(self, index: int) -> np.ndarray:
        return self._task.prompt_ids(index)

    def check(self, index: int, completion: Sequence[int]) -> dict:
        """{tense_agrees, person_agrees, grammatical, reward} of a completion of prompt `index`."""
        return self._task.check(index, [int(t) for t in completion])


class PolicyTrainer:
    """detinfer's trainer as an RL learner: one step takes (tokens, prompt_tokens, advantage)
    samples, computes the trainer's logprob of every completion token (the bits the engine
    reports for the same weights), the token-level policy-gradient loss (+ kl_coef * k3 to the
    initial weights), clips and applies AdamW. `init="random"` starts from a fresh
    initialisation of the model's shape (seed `init_seed`) instead of its weights."""

    def __init__(self, model: str, *, lr: float = 3e-4, kl_coef: float = 0.0,
                 clip_norm: float = 1.0, threads: int = 0, init: str = "model",
                 init_seed: int = 1):
        self._t = _PolicyTrainer(str(model), lr, kl_coef, clip_norm, threads, init, init_seed)

    def step(self, samples: Sequence[Tuple[Sequence[int], int, float]]) -> dict:
        """{logprobs: [float32 array per sample], loss, kl, tokens, grad_norm}."""
        return self._t.step([([int(t) for t in toks], int(p), float(a)) for toks, p, a in samples])

    def named_tensors(self) -> dict:
        """Every weight by its Hugging Face name (float32): what LLM.update_weights takes."""
        return self._t.named_tensors()

    def params_hash(self) -> str:
        """XXH3-64 of the parameters' bytes, as `detinfer rl` logs final_params_hash."""
        return self._t.params_hash()

    @property
    def steps_done(self) -> int:
        return self._t.steps_done
