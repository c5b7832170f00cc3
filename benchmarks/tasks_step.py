"""Time of one training step of each task network (fusion_papers.tasks), and of one task-loss gradient w.r.t. the image.

A step = `task_loss(net, images, targets)` + backward + one optimiser step (SGD for detectors, AdamW for the
segmenters), on a random batch (default 2 x 3 x 128 x 160) with two boxes / a random mask per image. The
"image grad" column is forward + backward to the image only (what a fusion net upstream pays, e.g. CAF's
upper level). Median of `--repeats` after one warm-up; on CPU the clock is the process CPU time, which
other jobs on a shared machine disturb much less than wall time. Usage:

    python benchmarks/tasks_step.py [--archs yolov8n,fcos_r50,...] [--batch 2] [--size 128x160]
                                    [--repeats 3] [--threads 1] [--device cpu] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from fusion_papers.core import get_device, seed_everything
from fusion_papers.tasks import DET_ARCHS, SEG_ARCHS, build_task_model, task_loss

DEFAULT = ("yolov8n", "yolov5s", "fcos_r50", "fcos_r18", "retinanet_r50", "retinanet_r18",
           "segformer_b0", "segformer_b1", "segformer_b2", "segformer_b3", "resnet18_seg")


def batch(arch, n, h, w, device, nc):
    x = torch.rand(n, 3, h, w, device=device)
    if arch in SEG_ARCHS:
        return x, torch.randint(0, nc, (n, h, w), device=device)
    t = [{"boxes": torch.tensor([[0.1 * w, 0.2 * h, 0.4 * w, 0.6 * h], [0.5 * w, 0.3 * h, 0.9 * w, 0.9 * h]], device=device),
          "labels": torch.tensor([0, 1], device=device)} for _ in range(n)]
    return x, t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default=",".join(DEFAULT))
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--size", default="128x160", help="HxW")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    dev = get_device(a.device)
    h, w = map(int, a.size.lower().split("x"))
    clock = time.process_time if dev.type == "cpu" else time.perf_counter
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    rows = []
    for arch in a.archs.split(","):
        seed_everything(0)
        kind = "segment" if arch in SEG_ARCHS else "detect"
        nc = 6 if kind == "detect" else 9
        kw = {"imgsz": max(h, w)} if arch.startswith(("fcos", "retinanet")) else {}
        tm = build_task_model(kind, arch, nc, device=str(dev), **kw)
        net = tm.net.train()
        opt = (torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9) if kind == "detect"
               else torch.optim.AdamW(net.parameters(), lr=1e-5))
        x, t = batch(arch, a.batch, h, w, dev, nc)
        step_t, grad_t = [], []
        for r in range(a.repeats + 1):
            sync(); t0 = clock()
            loss = task_loss(net, x, t); opt.zero_grad(); loss.backward(); opt.step()
            sync(); t1 = clock()
            xi = x.clone().requires_grad_(True)
            g, = torch.autograd.grad(task_loss(net, xi, t), xi)
            sync(); t2 = clock()
            if r:                                   # first round = warm-up
                step_t.append(t1 - t0); grad_t.append(t2 - t1)
        n_par = sum(p.numel() for p in net.parameters())
        rows.append({"arch": arch, "params_M": round(n_par / 1e6, 2), "step_s": round(statistics.median(step_t), 3),
                     "image_grad_s": round(statistics.median(grad_t), 3), "loss": round(float(loss.detach()), 4)})
        print(f"{arch:15s} {rows[-1]['params_M']:7.2f} M  step {rows[-1]['step_s']:7.3f} s   image-grad {rows[-1]['image_grad_s']:7.3f} s",
              flush=True)
    out = {"device": str(dev), "cpu": platform.processor() or platform.machine(), "threads": a.threads,
           "batch": a.batch, "size_hw": [h, w], "repeats": a.repeats,
           "clock": "process CPU time" if dev.type == "cpu" else "wall", "rows": rows}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
