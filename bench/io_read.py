"""Per-file read time of `stm_zoo.io.read` for each format, on the real files in ../shared/data/stm.

Usage: python bench/io_read.py [--repeat 5] [--root ../shared/data/stm]
Prints one line per file (best of `repeat` warm reads) and a per-format summary; the first read of a format
also pays for importing its reader, reported separately as "first read".
"""

import argparse
import csv
import re
import statistics
import time
from collections import defaultdict
from pathlib import Path

import stm_zoo.io as sio

ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "stm"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    rows = list(csv.DictReader((args.root / "MANIFEST.csv").open()))
    per_format = defaultdict(list)
    first = {}
    print(f"{'format':8} {'pixels':>10} {'ms':>8}  file")
    for row in rows:
        path = args.root / row["repo"].replace("/", "__") / row["path"]
        ext = path.suffix.lower()
        if ext not in sio.formats() or not sio.formats()[ext]["available"]:
            continue
        token = re.search(r"-X[pm]-([^-.]+)\.nc$", path.name)
        channel = token.group(1) if token else "Z"
        try:
            start = time.perf_counter()
            scan = sio.read(path, channel=channel)
            first.setdefault(ext, time.perf_counter() - start)
        except sio.ReadError:
            continue  # empty, constant-height or unreadable: not a timing case
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            sio.read(path, channel=channel)
            times.append(time.perf_counter() - start)
        best = min(times)
        per_format[ext].append((best, scan.data.size))
        print(f"{ext:8} {'x'.join(map(str, scan.data.shape)):>10} {best * 1e3:8.1f}  {path.name[:60]}")
    print(f"\n{'format':8} {'files':>5} {'median ms':>10} {'max ms':>8} {'Mpixel/s':>9} {'first read ms':>14}")
    for ext, results in sorted(per_format.items()):
        times = [t for t, _ in results]
        rate = sum(n for _, n in results) / sum(times) / 1e6
        print(f"{ext:8} {len(results):5d} {statistics.median(times) * 1e3:10.1f} {max(times) * 1e3:8.1f} "
              f"{rate:9.1f} {first[ext] * 1e3:14.0f}")


if __name__ == "__main__":
    main()
