#!/usr/bin/python3
"""PyTorch CPU baseline for `npm run bench:eval`: inference throughput of fer's three nets on random faces, as
`fer eval` computes it (uint8 48×48 faces → float/255, batches of --batch, softmax; with --tta also the
horizontally flipped faces, averaged). Same architectures as bench/train_pytorch.py. With --fold yes (or both) also
with batch-norm folded into the convolutions and dense layers (PyTorch's own inference fusion,
torch.ao.quantization.fuse_modules: Conv2d+BatchNorm2d+ReLU, Linear+BatchNorm1d), as `fer eval` folds its nets.

Run by bench/eval.js with /usr/bin/python3 (Debian's python3-torch); prints one JSON line per net and TTA
setting. Exit code 3 when torch is not importable.

    /usr/bin/python3 bench/eval_pytorch.py --nets 1,2,3 --images 3589 --batch 256 --threads 2 [--fold no|yes|both]
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_pytorch import NETS  # noqa: E402


def fold(model):
    """The model with each Conv2d/Linear → BatchNorm (→ ReLU after a conv) fused for inference (eval mode)."""
    children = list(model.named_children())
    groups, i = [], 0
    while i < len(children):
        name, m = children[i]
        if isinstance(m, (nn.Conv2d, nn.Linear)) and i + 1 < len(children) and isinstance(children[i + 1][1], (nn.BatchNorm2d, nn.BatchNorm1d)):
            group = [name, children[i + 1][0]]
            if isinstance(m, nn.Conv2d) and i + 2 < len(children) and isinstance(children[i + 2][1], nn.ReLU):
                group.append(children[i + 2][0])
            groups.append(group)
            i += len(group)
        else:
            i += 1
    return torch.ao.quantization.fuse_modules(model, groups) if groups else model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nets", default="1,2,3")
    ap.add_argument("--images", type=int, default=3589)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--fold", choices=("no", "yes", "both"), default="no")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    faces = torch.randint(0, 256, (args.images, 1, 48, 48), dtype=torch.uint8)
    variants = {"no": [False], "yes": [True], "both": [False, True]}[args.fold]
    for name in args.nets.split(","):
        if name not in NETS:
            continue
        for folded in variants:
            model = NETS[name]().eval()
            if folded:
                model = fold(model)

            def score(tta):
                with torch.no_grad():
                    for start in range(0, args.images, args.batch):
                        x = faces[start:start + args.batch].float().div(255)
                        p = torch.softmax(model(x), 1)
                        if tta:
                            p = (p + torch.softmax(model(torch.flip(x, [3])), 1)) / 2
                        p.numpy()

            score(False)  # warm-up, as bench/eval.js does
            for tta in (False, True):
                t0, c0 = time.perf_counter(), time.process_time()
                score(tta)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                print(json.dumps({
                    "net": "net" + name, "tta": tta, "folded": folded, "torch": torch.__version__, "threads": torch.get_num_threads(),
                    "imagesPerSecond": args.images / wall, "seconds": wall, "cpuSeconds": cpu,
                    "load": " ".join("%.2f" % l for l in os.getloadavg()),
                }), flush=True)


if __name__ == "__main__":
    main()
