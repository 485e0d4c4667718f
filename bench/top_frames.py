#!/usr/bin/env python3
"""Prints the frames of a folded perf profile (inferno-collapse-perf) that
take the most time: by self time (where the CPU was), then by total time
(the frame and everything it called), and Wharf's own functions by total
time, as percentages of all samples.
Usage: top_frames.py PROFILE.folded [COUNT]
"""
import collections
import re
import sys

path = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 25
own, total, samples = collections.Counter(), collections.Counter(), 0
for line in open(path):
    stack, _, n = line.rstrip().rpartition(" ")
    n = int(n)
    samples += n
    frames = [re.sub(r"::h[0-9a-f]{16}$", "", f) for f in stack.split(";")]
    own[frames[-1]] += n
    for frame in set(frames):
        total[frame] += n
print(f"{samples} samples in {path}")
wharf = collections.Counter({f: n for f, n in total.items() if f.startswith("wharf::")})
for title, counter in (("self", own), ("total (with callees)", total), ("Wharf's functions, total", wharf)):
    print(f"\n== {title}")
    for frame, n in counter.most_common(count):
        print(f"{100 * n / max(samples, 1):6.2f}%  {frame[:160]}")
