#!/usr/bin/python3
"""PyTorch CPU baseline for `npm run bench:train`: the same nets, batch and timing rules as bench/train.js.

The training step is fer's (src/train): cross-entropy on the clipped softmax probabilities and AdamW
(eps 1e-7, decoupled weight decay 0.01 on conv/linear weights only, none on biases and batch-norm).

Run by bench/train.js with /usr/bin/python3 (Debian's python3-torch); prints one JSON line per net.
Exit code 3 when torch is not importable.

    /usr/bin/python3 bench/train_pytorch.py --nets rep,1,2,3 --batch 64 --seconds 8 --threads 2
"""
import argparse
import json
import os
import sys
import time

try:
    import torch
    from torch import nn
except ImportError:
    sys.stderr.write("torch is not installed for %s (apt-get install -y python3-torch)\n" % sys.executable)
    sys.exit(3)


def conv_bn_relu(cin, cout, k, padding):
    pad = k // 2 if padding == "same" else 0
    return [nn.Conv2d(cin, cout, k, padding=pad, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def dense_bn_relu(cin, cout):
    return [nn.Linear(cin, cout, bias=False), nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]


def rep():
    layers, cin = [], 1
    for c in (32, 64, 128):
        layers += conv_bn_relu(cin, c, 3, "same") + [nn.MaxPool2d(2)]
        cin = c
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(6 * 6 * 128, 256), nn.ReLU(inplace=True), nn.Linear(256, 7))


def net1():
    return nn.Sequential(
        *conv_bn_relu(1, 64, 5, "valid"), nn.MaxPool2d(5, 2),
        *conv_bn_relu(64, 64, 3, "valid"), *conv_bn_relu(64, 64, 3, "valid"), nn.AvgPool2d(3, 2),
        *conv_bn_relu(64, 128, 3, "valid"), *conv_bn_relu(128, 128, 3, "valid"), nn.AvgPool2d(3, 2),
        nn.Flatten(),
        nn.Linear(128, 1024), nn.ReLU(inplace=True), nn.Dropout(0.2),
        nn.Linear(1024, 1024), nn.ReLU(inplace=True), nn.Dropout(0.2),
        nn.Linear(1024, 7))


def net2():
    layers, cin = [], 1
    for c, k in ((32, 3), (64, 5), (128, 3), (256, 3)):
        layers += conv_bn_relu(cin, c, k, "same") + [nn.MaxPool2d(2), nn.Dropout(0.25)]
        cin = c
    return nn.Sequential(*layers, nn.Flatten(),
                         *dense_bn_relu(3 * 3 * 256, 256), nn.Dropout(0.25),
                         *dense_bn_relu(256, 512), nn.Dropout(0.25),
                         nn.Linear(512, 7))


def net3():
    return nn.Sequential(
        *conv_bn_relu(1, 32, 3, "same"), nn.MaxPool2d(2),
        *conv_bn_relu(32, 64, 3, "same"), *conv_bn_relu(64, 64, 3, "same"), nn.MaxPool2d(2), nn.Dropout(0.2),
        *conv_bn_relu(64, 128, 3, "same"), *conv_bn_relu(128, 128, 3, "same"), nn.MaxPool2d(2), nn.Dropout(0.3),
        *conv_bn_relu(128, 256, 3, "same"), *conv_bn_relu(256, 256, 3, "same"), nn.MaxPool2d(2), nn.Dropout(0.4),
        nn.Flatten(), *dense_bn_relu(3 * 3 * 256, 256), nn.Dropout(0.5), nn.Linear(256, 7))


NETS = {"rep": rep, "1": net1, "2": net2, "3": net3}


def time_loop(fn, seconds, warmup=2, min_runs=3):
    """Runs, wall seconds and CPU seconds (all threads) of calling fn for about `seconds`."""
    for _ in range(warmup):
        fn()
    runs, t0, c0 = 0, time.perf_counter(), time.process_time()
    while runs < min_runs or time.perf_counter() - t0 < seconds:
        fn()
        runs += 1
    return runs, time.perf_counter() - t0, time.process_time() - c0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nets", default="rep,1,2,3")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=1, help="best of N measurements (each figure separately)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    x = torch.rand(args.batch, 1, 48, 48)
    y = torch.arange(args.batch) % 7
    for name in args.nets.split(","):
        if name not in NETS:
            continue
        model = NETS[name]()
        kernels = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        kernel_ids = {id(p) for p in kernels}
        others = [p for p in model.parameters() if id(p) not in kernel_ids]
        opt = torch.optim.AdamW([{"params": kernels, "weight_decay": 0.01}, {"params": others, "weight_decay": 0.0}],
                                lr=1e-3, eps=1e-7)

        def train_step():
            opt.zero_grad(set_to_none=True)
            p = torch.softmax(model(x), 1).clamp(1e-7, 1 - 1e-7)
            loss = torch.nn.functional.nll_loss(torch.log(p), y)
            loss.backward()
            opt.step()
            loss.item()

        def best(fn, seconds):
            results = [time_loop(fn, seconds) for _ in range(args.repeat)]
            return (max(r * args.batch / s for r, s, _ in results), max(r * args.batch / c for r, _, c in results))

        model.train()
        train, train_cpu = best(train_step, args.seconds)
        model.eval()

        def infer():
            with torch.no_grad():
                torch.softmax(model(x), 1).numpy()

        infer_wall, infer_cpu = best(infer, args.seconds / 2)
        print(json.dumps({
            "net": name, "torch": torch.__version__, "threads": torch.get_num_threads(), "batch": args.batch,
            "trainImgPerSec": train, "trainImgPerCpuSec": train_cpu,
            "inferImgPerSec": infer_wall, "inferImgPerCpuSec": infer_cpu,
            "load": " ".join("%.2f" % l for l in os.getloadavg()),
        }), flush=True)


if __name__ == "__main__":
    main()
