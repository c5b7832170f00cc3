"""Cost of one bilevel (hypergradient) step, per approximation, as a ratio to one plain training step.

A small conv fusion net (3 conv layers) fuses a 2-channel IR/visible batch (default 4 x 64 x 64). Its
lower loss is a softmax(beta)-weighted sum of four fusion terms (the CAF shape); a tiny task head on the
fused image gives the upper loss on a separate "validation" batch. Timed, in the same run and interleaved
round-robin so that load on a shared machine affects all alike (median of `--repeats`; on CPU the clock is the
process CPU time, which other jobs on a shared machine disturb much less than wall time):

* plain step: lower forward + backward + SGD(momentum) step of the fusion net (the reference, ratio 1);
* CAF / DARTS one-step unrolled hypergradient w.r.t. beta, finite-difference HVP (and exact HVP);
* DARTS first order (xi = 0);
* Gauss-Newton implicit (BDL / TIM roles: hyper = fusion weights, lower = task head), paper and official form;
* exact references: reverse-mode unroll through T steps, implicit (IFT) with T conjugate-gradient iterations.

Each bilevel step = the hypergradient + one Adam step on the hyper variables. Usage:

    python benchmarks/bilevel_bench.py [--repeats 15] [--threads 1] [--device cpu] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
import torch.nn.functional as Fn

from fusion_papers.core import seed_everything
from fusion_papers.hypergrad import (exact_hypergrad, gauss_newton_hypergrad, sgd_unroll_kwargs,
                                     unrolled_hypergrad)


def make_nets(ch: int, device):
    fusion = torch.nn.Sequential(
        torch.nn.Conv2d(2, ch, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(ch, ch, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(ch, 1, 3, padding=1), torch.nn.Sigmoid()).to(device)
    task = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 1, 3, padding=1)).to(device)
    return fusion, task


def grad_mag(img):
    return (img[..., 1:, :-1] - img[..., :-1, :-1]).abs() + (img[..., :-1, 1:] - img[..., :-1, :-1]).abs()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=5, help="T for the exact unroll and the CG iterations")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=None)
    ap.add_argument("--clock", choices=["auto", "process", "wall"], default="auto",
                    help="process CPU time (default on CPU: robust to other jobs on a shared machine) or wall time (default on CUDA)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    seed_everything(0, deterministic=False)
    dev = torch.device(a.device)
    fusion, task = make_nets(a.channels, dev)
    fparams, tparams = list(fusion.parameters()), list(task.parameters())
    beta = torch.full((4,), 1.25e-2, device=dev, requires_grad=True)
    opt = torch.optim.SGD(fparams, lr=1e-3, momentum=0.9, weight_decay=3e-4)
    hyper_opt = torch.optim.Adam([beta], lr=5e-2)
    fusion_hyper_opt = torch.optim.SGD(fparams, lr=1e-3)   # the GN roles: fusion weights are the hyper variables

    def batch():
        x = torch.rand(a.batch, 2, a.size, a.size, device=dev)
        return x, (x[:, :1] > 0.6).float()
    (xt, mt), (xv, mv) = batch(), batch()

    def lower():                       # CAF-like: softmax(beta)-weighted fusion terms on the train batch
        f = fusion(xt); ir, vi = xt[:, :1], xt[:, 1:]
        mx = torch.maximum(ir, vi)
        terms = torch.stack([(f - ir).abs().mean(), (f - vi).abs().mean(), ((f - mx) ** 2).mean(),
                             (grad_mag(f) - torch.maximum(grad_mag(ir), grad_mag(vi))).abs().mean()])
        return (torch.softmax(beta, 0) * terms).sum()

    def upper():                       # task loss of the fused validation batch
        return Fn.binary_cross_entropy_with_logits(task(fusion(xv)), mv)

    def task_train():                  # the GN lower loss: the task head trained on the train batch
        return Fn.binary_cross_entropy_with_logits(task(fusion(xt)), mt)

    # prime the momentum buffers as in training
    for _ in range(2):
        opt.zero_grad(); lower().backward(); opt.step()
    bufs = list(fusion.buffers())

    def apply(opt_, params, grads):
        for p, g in zip(params, grads):
            p.grad = g
        opt_.step()

    def plain():
        opt.zero_grad(); lower().backward(); opt.step()

    methods = {
        "plain training step": plain,
        "CAF/DARTS one-step unrolled, FD HVP": lambda: apply(hyper_opt, [beta], unrolled_hypergrad(
            fparams, [beta], lower, upper, buffers=bufs, **sgd_unroll_kwargs(opt, fparams))),
        "one-step unrolled, exact HVP": lambda: apply(hyper_opt, [beta], unrolled_hypergrad(
            fparams, [beta], lower, upper, hvp="autograd", buffers=bufs, **sgd_unroll_kwargs(opt, fparams))),
        "DARTS first order (xi=0)": lambda: apply(hyper_opt, [beta], unrolled_hypergrad(
            fparams, [beta], lower, upper, lr=1e-3, second_order=False)),
        "Gauss-Newton, paper (BDL/TIM)": lambda: apply(fusion_hyper_opt, fparams, gauss_newton_hypergrad(
            tparams, fparams, task_train, upper)),
        "Gauss-Newton, official code": lambda: apply(fusion_hyper_opt, fparams, gauss_newton_hypergrad(
            tparams, fparams, task_train, upper, official_code=True, eta=1e-3)),
        f"exact: unroll T={a.steps} steps": lambda: apply(hyper_opt, [beta], exact_hypergrad(
            fparams, [beta], lower, upper, method="unroll", steps=a.steps, lr=1e-3, buffers=bufs)),
        f"exact: implicit, CG {a.steps} it.": lambda: apply(hyper_opt, [beta], exact_hypergrad(
            fparams, [beta], lower, upper, solver="cg", cg_iters=a.steps, cg_tol=0.0, buffers=bufs)),
    }
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    clock_name = ("wall" if dev.type == "cuda" else "process") if a.clock == "auto" else a.clock
    clock = time.perf_counter if clock_name == "wall" else time.process_time
    times = {k: [] for k in methods}
    for rep in range(a.warmup + a.repeats):
        for k, fn in methods.items():      # round-robin: drifting load hits every method alike
            sync(); t0 = clock(); fn(); sync()
            if rep >= a.warmup:
                times[k].append(clock() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["plain training step"]
    nparams = sum(p.numel() for p in fparams)
    print(f"fusion net {nparams} params, batch {a.batch}x2x{a.size}x{a.size}, device {a.device}, "
          f"threads {a.threads}, {clock_name} time, median of {a.repeats} (torch {torch.__version__}, {platform.processor() or platform.machine()})")
    print(f"{'method':45s} {'median ms':>10s} {'ratio':>7s}")
    for k, v in med.items():
        print(f"{k:45s} {1e3 * v:10.2f} {v / base:7.2f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(dict(args=vars(a), params=nparams, median_s=med, ratio={k: v / base for k, v in med.items()}), fh, indent=1)
    return med


if __name__ == "__main__":
    main()
