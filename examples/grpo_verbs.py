#!/usr/bin/env python3
"""GRPO on the verb-grammar task through the detinfer Python package: the algorithm of
`detinfer rl` (docs/rl.md, "The GRPO loop"), written as an RL framework would drive an engine.

Each step: prompts chosen by rl.batch_indices; a group of n completions of each, sampled by the
running LLM at temperature 1 (so the raw logprob IS the policy's logprob of the action); the
checker's rewards; group-normalised advantages; one learner step (the trainer's logprob of every
completion token, the policy-gradient loss, clipping, AdamW); the new weights pushed into the
LLM. Every step logs the largest |rollout logprob - trainer logprob| over all tokens, which is
exactly 0 (importance ratio exactly 1), and the weight version. The run is byte-reproducible and
gives the very weights `detinfer rl` gives with the same flags (tests/python/test_grpo.py).

    PYTHONPATH=build/python /usr/bin/python3 examples/grpo_verbs.py models/verbs --out grpo-py
    ... --rollout-kv-dtype bf16    # rollouts with bf16 KV: what a nonzero mismatch looks like
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

import detinfer
from detinfer import rl


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", nargs="?", default="models/verbs")
    p.add_argument("--out", required=True, help="output directory (rl_log.json, rl.csv, rl.png)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--prompts", type=int, default=16, help="prompts (groups) per step")
    p.add_argument("--n", type=int, default=8, help="completions per prompt")
    p.add_argument("--max-new-tokens", type=int, default=12)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--kl", type=float, default=0.0, help="k3 KL coefficient to the initial policy")
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="0: all (never changes a bit)")
    p.add_argument("--init", choices=["model", "random"], default="model")
    p.add_argument("--init-seed", type=int, default=1)
    p.add_argument("--rollout-kv-dtype", choices=["f32", "bf16", "f16"], default="f32")
    return p.parse_args()


def mismatch(rollout, trainer):
    """(max |a - b| in float64, how many tokens' float32 bits differ)."""
    a, b = np.asarray(rollout, np.float32), np.asarray(trainer, np.float32)
    assert a.shape == b.shape, (a.shape, b.shape)
    if a.size == 0:
        return 0.0, 0
    worst = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
    return worst, int(np.count_nonzero(a.view(np.uint32) != b.view(np.uint32)))


def run_step(step, args, llm, learner, task):
    idx = rl.batch_indices(args.seed, step, args.prompts, len(task))
    samples, rollouts, rewards_all, agreed = [], [], [], 0
    zero_groups = 0
    for slot, i in enumerate(idx):
        prompt = task.prompt_ids(i)
        params = detinfer.SamplingParams(
            n=args.n, seed=rl.rollout_seed(args.seed, step, slot), temperature=1.0,
            max_tokens=min(args.max_new_tokens, llm.context_len - len(prompt)),
            stop_token_ids=[task.eos_id], ignore_eos=True)
        [out] = llm.generate(prompt, params)
        rewards = []
        for c in out.outputs:
            verdict = task.check(i, c.token_ids)
            rewards.append(verdict["reward"])
            agreed += verdict["tense_agrees"]
            rollouts.append(c)
        advantages = rl.group_advantages(rewards)
        zero_groups += all(a == 0 for a in advantages)
        for c, adv in zip(out.outputs, advantages):
            samples.append((np.concatenate([prompt, c.token_ids]), len(prompt), adv))
        rewards_all += rewards
    learned = learner.step(samples)
    worst, differ = 0.0, 0
    for c, trainer_lp in zip(rollouts, learned["logprobs"]):
        w, d = mismatch(c.logprobs, trainer_lp)
        worst, differ = max(worst, w), differ + d
    version = llm.update_weights(learner.named_tensors())
    n = len(samples)
    return {"step": step, "mean_reward": sum(rewards_all) / n, "tense_agreement": agreed / n,
            "zero_advantage_groups": zero_groups, "samples": n, "tokens": learned["tokens"],
            "max_abs_mismatch": worst, "mismatched_tokens": differ, "loss": learned["loss"],
            "kl": learned["kl"], "grad_norm": learned["grad_norm"],
            "weight_version": {"counter": version.counter, "hash": version.hash_hex}}


def plot(out, csv, title):
    if shutil.which("gnuplot") is None:
        print("grpo_verbs: gnuplot is not installed: no rl.png (rl.csv has the numbers)",
              file=sys.stderr)
        return
    script = f"""set terminal pngcairo size 900,700
set output '{os.path.join(out, "rl.png")}'
set datafile separator ','
set multiplot layout 2,1 title '{title}'
set ylabel 'mean reward'
plot '{csv}' every ::1 using 1:2 with linespoints title 'reward'
set ylabel 'max |rollout - trainer| logprob'
set xlabel 'step'
plot '{csv}' every ::1 using 1:3 with linespoints title 'mismatch'
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=False)


def main():
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    llm = detinfer.LLM(args.model, threads=args.threads, kv_dtype=args.rollout_kv_dtype)
    learner = rl.PolicyTrainer(args.model, lr=args.lr, kl_coef=args.kl, clip_norm=args.clip,
                               threads=args.threads, init=args.init, init_seed=args.init_seed)
    task = rl.VerbTask()
    if args.init == "random":  # the rollout engine must serve the learner's weights
        llm.update_weights(learner.named_tensors())
    steps = []
    for step in range(1, args.steps + 1):
        t0 = time.monotonic()
        log = run_step(step, args, llm, learner, task)
        steps.append(log)
        print(f"step {step}/{args.steps}  reward {log['mean_reward']:.3f}  "
              f"mismatch {log['max_abs_mismatch']:g} ({log['mismatched_tokens']}/{log['tokens']} "
              f"tokens)  loss {log['loss']:.4f}  v{log['weight_version']['counter']} "
              f"{log['weight_version']['hash'][:8]}  {time.monotonic() - t0:.1f} s", flush=True)
    run = {k: getattr(args, k) for k in ("model", "steps", "prompts", "n", "max_new_tokens", "lr",
                                         "kl", "clip", "seed", "init", "init_seed",
                                         "rollout_kv_dtype")}
    final = {"params_hash": learner.params_hash(),
             "max_abs_mismatch": max(s["max_abs_mismatch"] for s in steps),
             "mismatched_tokens": sum(s["mismatched_tokens"] for s in steps)}
    # No wall-clock or thread fields: two runs with the same flags write the same bytes.
    with open(os.path.join(args.out, "rl_log.json"), "w") as f:
        json.dump({"run": run, "steps": steps, "final": final}, f, indent=1)
        f.write("\n")
    csv = os.path.join(args.out, "rl.csv")
    with open(csv, "w") as f:
        f.write("step,mean_reward,max_abs_mismatch,mismatched_tokens\n")
        for s in steps:
            f.write(f"{s['step']},{s['mean_reward']!r},{s['max_abs_mismatch']!r},"
                    f"{s['mismatched_tokens']}\n")
    plot(args.out, csv, f"GRPO (Python) on {args.model}")
    print(f"max |rollout - trainer| logprob over the run: {final['max_abs_mismatch']:g} "
          f"({final['mismatched_tokens']} tokens differ); final params {final['params_hash']}")


if __name__ == "__main__":
    main()
