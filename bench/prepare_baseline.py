#!/usr/bin/env python3
"""Baseline for `npm run bench:prepare`: the usual Python way of preparing FER2013 (csv module + numpy).

Reads the CSV (plain or .gz), parses every pixel string, groups rows by Usage and saves
<out>/<split>_images.npy (uint8 N x 48 x 48) and <split>_labels.npy. No cleaning beyond the pixel count:
it is the reference for raw throughput, not for behaviour.
Usage: prepare_baseline.py CSV OUT_DIR
"""
import csv
import gzip
import os
import sys

import numpy as np

SPLITS = {'Training': 'train', 'PublicTest': 'val', 'PrivateTest': 'test'}


def main(src, out):
    opener = gzip.open if open(src, 'rb').read(2) == b'\x1f\x8b' else open
    images = {s: [] for s in SPLITS.values()}
    labels = {s: [] for s in SPLITS.values()}
    with opener(src, 'rt', newline='') as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            if len(row) != 3 or row[2] not in SPLITS:
                continue
            pixels = np.array(row[1].split(' '), dtype=np.uint8)
            if pixels.size != 48 * 48:
                continue
            split = SPLITS[row[2]]
            images[split].append(pixels.reshape(48, 48))
            labels[split].append(int(row[0]))
    os.makedirs(out, exist_ok=True)
    for split in SPLITS.values():
        arr = np.stack(images[split]) if images[split] else np.zeros((0, 48, 48), np.uint8)
        np.save(os.path.join(out, split + '_images.npy'), arr)
        np.save(os.path.join(out, split + '_labels.npy'), np.array(labels[split], dtype=np.uint8))
    print(' '.join('%s=%d' % (s, len(labels[s])) for s in SPLITS.values()))


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
