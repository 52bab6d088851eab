#!/usr/bin/python3
"""PyTorch CPU baseline for `npm run bench:eval`: inference throughput of fer's three nets on random faces, as
`fer eval` computes it (uint8 48×48 faces → float/255, batches of --batch, softmax; with --tta also the
horizontally flipped faces, averaged). Same architectures as bench/train_pytorch.py.

Run by bench/eval.js with /usr/bin/python3 (Debian's python3-torch); prints one JSON line per net and TTA
setting. Exit code 3 when torch is not importable.

    /usr/bin/python3 bench/eval_pytorch.py --nets 1,2,3 --images 3589 --batch 256 --threads 2
"""
import argparse
import json
import os
import sys
import time

try:
    import torch
except ImportError:
    sys.stderr.write("torch is not installed for %s (apt-get install -y python3-torch)\n" % sys.executable)
    sys.exit(3)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_pytorch import NETS  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nets", default="1,2,3")
    ap.add_argument("--images", type=int, default=3589)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    faces = torch.randint(0, 256, (args.images, 1, 48, 48), dtype=torch.uint8)
    for name in args.nets.split(","):
        if name not in NETS:
            continue
        model = NETS[name]().eval()

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
                "net": "net" + name, "tta": tta, "torch": torch.__version__, "threads": torch.get_num_threads(),
                "imagesPerSecond": args.images / wall, "seconds": wall, "cpuSeconds": cpu,
                "load": " ".join("%.2f" % l for l in os.getloadavg()),
            }), flush=True)


if __name__ == "__main__":
    main()
