#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""plot.py RESULTS.txt OUT.svg: plots a bench/faults/loss.sh results file as a self-contained
SVG (no dependencies, like bench/render/plot.py): false failures and suspicions per node
against the loss rate, haserf's nodes against serf's, each node as a small dot and the mean
of each kind as a line.

Reads the loss<R>_failed_<node>, loss<R>_suspect_<node> and loss<R>_dropped_pct lines."""
import re
import sys
from xml.sax.saxutils import escape

KINDS = [  # key, legend label, colour, marker
    ("serf", "serf agent nodes (mean)", "#e07b1a", "square"),
    ("haserf", "haserf nodes: haserf agent + HAProxy's member (mean)", "#1f6fb4", "circle"),
]
HASERF_NODES = ("h1", "haproxy")
W, H = 900, 400
FONT = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""


def read(path):
    vals, info = {}, {}
    for line in open(path, encoding="utf-8"):
        m = re.match(r"loss(\d+)_(failed|suspect)_(\w+)=([0-9.]+)\s*$", line)
        if m and m[3] not in ("haserf_mean", "serf_mean", "ratio"):
            vals.setdefault((int(m[1]), m[2]), {})[m[3]] = float(m[4])
        elif "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            info[k] = v
    return vals, info


def marker(kind, x, y, colour, r=4.5):
    if kind == "square":
        return f'<rect x="{x - r:.1f}" y="{y - r:.1f}" width="{2 * r}" height="{2 * r}" fill="{colour}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{colour}"/>'


def nice_max(v):
    for c in sorted(m * 10 ** d for d in range(-2, 6) for m in (1, 2, 5)):
        if c >= v * 1.1:
            return c
    return v * 1.2


def panel(out, x0, y0, w, h, title, ylabel, rates, per_rate):
    """per_rate: {rate: {node: value}}"""
    ymax = nice_max(max([v for d in per_rate.values() for v in d.values()] + [0.5]))
    xlo, xhi = 0, max(60, max(rates) + 10)

    def px(r):
        return x0 + (r - xlo) / (xhi - xlo) * w

    def py(v):
        return y0 + h - v / ymax * h

    out.append(f'<text x="{x0 + w / 2:.1f}" y="{y0 - 12}" text-anchor="middle" font-size="14"'
               f' font-weight="bold">{escape(title)}</text>')
    out.append(f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="#fff" stroke="#888"/>')
    for i in range(6):
        t = ymax * i / 5
        out.append(f'<line x1="{x0}" y1="{py(t):.1f}" x2="{x0 + w}" y2="{py(t):.1f}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{x0 - 6}" y="{py(t) + 4:.1f}" text-anchor="end" font-size="11">{t:g}</text>')
    for r in range(0, xhi + 1, 10):
        out.append(f'<line x1="{px(r):.1f}" y1="{y0}" x2="{px(r):.1f}" y2="{y0 + h}" stroke="#eee"/>')
        out.append(f'<text x="{px(r):.1f}" y="{y0 + h + 16}" text-anchor="middle" font-size="11">{r}</text>')
    out.append(f'<text x="{x0 + w / 2:.1f}" y="{y0 + h + 34}" text-anchor="middle" font-size="12">'
               f'gossip packets dropped (%)</text>')
    out.append(f'<text transform="translate({x0 - 40},{y0 + h / 2:.1f}) rotate(-90)" text-anchor="middle"'
               f' font-size="12">{escape(ylabel)}</text>')
    for i, (key, _, colour, kind) in enumerate(KINDS):
        off = -4 if key == "serf" else 4  # side by side, so equal dots stay visible
        means = []
        for r in rates:
            nodes = {n: v for n, v in per_rate.get(r, {}).items()
                     if (n in HASERF_NODES) == (key == "haserf")}
            for v in nodes.values():
                out.append(f'<circle cx="{px(r) + 2 * off:.1f}" cy="{py(v):.1f}" r="2.2" fill="{colour}"'
                           f' fill-opacity="0.45"/>')
            if nodes:
                means.append((r, sum(nodes.values()) / len(nodes)))
        if len(means) > 1:
            path = " ".join(f"{px(r) + off:.1f},{py(v):.1f}" for r, v in means)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for r, v in means:
            out.append(marker(kind, px(r) + off, py(v), colour))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py RESULTS.txt OUT.svg")
    vals, info = read(sys.argv[1])
    rates = sorted({r for r, _ in vals})
    if not rates:
        sys.exit(f"plot.py: no loss<R>_failed_<node> lines in {sys.argv[1]}")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}"'
           f' {FONT} fill="#222">',
           f'<rect width="{W}" height="{H}" fill="#fafafa"/>',
           f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">'
           f'Random gossip packet loss: false failures and suspicions per node</text>']
    sub = [f'{info.get("n_serf", "?")} serf agents + haserf agent + HAProxy\'s member, '
           f'{info.get("duration_s", "?")} s of loss per rate, {info.get("date", "")}',
           ", ".join(x for x in (info.get("haserf", ""), "serf " + info.get("serf", "?"),
                                 "HAProxy " + info.get("haproxy", "?")) if x)]
    for k, line in enumerate(sub):
        out.append(f'<text x="{W / 2}" y="{42 + 14 * k}" text-anchor="middle" font-size="11" fill="#555">'
                   f'{escape(line)}</text>')
    pw, ph, top = 340, 210, 94
    panel(out, 70, top, pw, ph, "Declared failed (EventMemberFailed)", "per node, per observing serf agent",
          rates, {r: vals.get((r, "failed"), {}) for r in rates})
    panel(out, 70 + pw + 90, top, pw, ph, "Suspected (a probe of it failed)", "per node, per observing serf agent",
          rates, {r: vals.get((r, "suspect"), {}) for r in rates})
    lx, ly = 90, H - 14
    for _, label, colour, kind in KINDS:
        out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 28}" y2="{ly - 4}" stroke="{colour}" stroke-width="2"/>')
        out.append(marker(kind, lx + 14, ly - 4, colour))
        out.append(f'<text x="{lx + 36}" y="{ly}" font-size="12">{escape(label)}</text>')
        lx += 36 + 7 * len(label) + 30
    out.append(f'<text x="{W - 10}" y="{ly}" text-anchor="end" font-size="11" fill="#555">'
               f'small dots: single nodes</text>')
    out.append("</svg>")
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
