#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""plot.py RESULTS.txt OUT.svg: plots a bench/scale/cpu_members.sh results file as a
self-contained SVG (no dependencies, like bench/faults/plot.py): CPU seconds over the
measured window against the number of members (log scale), haserf agent and serf agent, with
haserf/serf as a label at each point.

Reads the cpu_members_<N>_haserf_s, cpu_members_<N>_serf_s and after_s lines."""
import math
import re
import sys

W, H = 820, 420
LEFT, RIGHT, TOP, BOTTOM = 80, 200, 50, 60
FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'
KINDS = [("serf", "serf agent 0.9.4", "#e07b1a"), ("haserf", "haserf agent", "#1f6fb4")]


def read(path):
    vals, after = {}, "?"
    for line in open(path, encoding="utf-8"):
        m = re.match(r"cpu_members_(\d+)_(haserf|serf)_s=([0-9.]+)\s*$", line)
        if m:
            vals.setdefault(int(m[1]), {})[m[2]] = float(m[3])
        elif line.startswith("after_s="):
            after = line.split("=", 1)[1].strip()
    return {n: v for n, v in vals.items() if "haserf" in v and "serf" in v}, after


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py RESULTS.txt OUT.svg")
    vals, after = read(sys.argv[1])
    if not vals:
        sys.exit("plot.py: no complete cpu_members_* lines in " + sys.argv[1])
    counts = sorted(vals)
    ymax = max(max(v.values()) for v in vals.values()) * 1.15 or 1
    lo, hi = math.log10(min(counts)), math.log10(max(counts))
    span = (hi - lo) or 1
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(n):
        return LEFT + (math.log10(n) - lo) / span * pw

    def y(v):
        return TOP + ph - v / ymax * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}">', f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="16" {FONT}>'
           f'Gossip CPU over {after} s against members (most unreachable)</text>']
    for i in range(6):  # y grid
        v = ymax * i / 5
        out.append(f'<line x1="{LEFT}" y1="{y(v):.1f}" x2="{LEFT + pw}" y2="{y(v):.1f}" '
                   'stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 8}" y="{y(v) + 4:.1f}" text-anchor="end" font-size="12" '
                   f'{FONT}>{v:.2f}</text>')
    for n in counts:
        out.append(f'<line x1="{x(n):.1f}" y1="{TOP}" x2="{x(n):.1f}" y2="{TOP + ph}" '
                   'stroke="#eee"/>')
        out.append(f'<text x="{x(n):.1f}" y="{TOP + ph + 18}" text-anchor="middle" '
                   f'font-size="12" {FONT}>{n:,}</text>')
        r = vals[n]["haserf"] / vals[n]["serf"] if vals[n]["serf"] else float("nan")
        out.append(f'<text x="{x(n):.1f}" y="{y(vals[n]["haserf"]) + 20:.1f}" '
                   f'text-anchor="middle" font-size="11" fill="#1f6fb4" {FONT}>{r:.2f}x</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 16}" text-anchor="middle" font-size="13" '
               f'{FONT}>members in the table (log scale)</text>')
    out.append(f'<text x="18" y="{TOP + ph / 2}" text-anchor="middle" font-size="13" {FONT} '
               f'transform="rotate(-90 18 {TOP + ph / 2})">CPU seconds (user + system)</text>')
    for k, (key, label, colour) in enumerate(KINDS):
        pts = " ".join(f"{x(n):.1f},{y(vals[n][key]):.1f}" for n in counts)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for n in counts:
            out.append(f'<circle cx="{x(n):.1f}" cy="{y(vals[n][key]):.1f}" r="4" '
                       f'fill="{colour}"/>')
        ly = TOP + 20 + k * 22
        out.append(f'<line x1="{LEFT + pw + 16}" y1="{ly}" x2="{LEFT + pw + 40}" y2="{ly}" '
                   f'stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{LEFT + pw + 46}" y="{ly + 4}" font-size="12" {FONT}>'
                   f'{label}</text>')
    out.append(f'<text x="{LEFT + pw + 16}" y="{TOP + 80}" font-size="11" fill="#1f6fb4" '
               f'{FONT}>labels: haserf / serf</text>')
    out.append("</svg>")
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
