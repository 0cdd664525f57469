#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""plot.py RESULTS.txt OUT.svg: plots a bench/render.sh results file as a self-contained SVG
(no dependencies): time and max RSS against the member count, log-log, one line per engine.

Reads the render_n<N>_<engine>_s and render_n<N>_<engine>_rss_kib lines."""
import math
import re
import sys
from xml.sax.saxutils import escape

ENGINES = [  # key in the results, legend label, colour, marker
    ("haserf", "haserf render", "#1f6fb4", "circle"),
    ("mustache", "mustache.js (node)", "#e07b1a", "square"),
    ("handlebars", "handlebars.js (node)", "#2e9a3e", "triangle"),
]
W, H = 900, 380
FONT = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\""


def read(path):
    vals, info = {}, {}
    for line in open(path, encoding="utf-8"):
        m = re.match(r"render_n(\d+)_(\w+?)_(s|rss_kib)=([0-9.]+)\s*$", line)
        if m:
            vals[(int(m[1]), m[2], m[3])] = float(m[4])
        elif "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            info[k] = v
    return vals, info


def count_label(n):
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % div == 0:
            return f"{n // div}{suffix}"
    return str(n)


def num_label(v):
    return f"{v:g}" if v >= 0.001 else f"{v:.0e}"


def log_ticks(lo, hi):
    """Tick values for a log axis over [lo, hi]: decades, plus 2 and 5 when that is few."""
    d0, d1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    steps = (1, 2, 5) if d1 - d0 <= 3 else (1,)
    return [m * 10 ** d for d in range(d0, d1 + 1) for m in steps if lo <= m * 10 ** d <= hi * 1.0001]


def axis_range(values):
    """Round out to 1/2/5 steps so the data never touches the frame."""
    lo, hi = min(values), max(values)
    cands = sorted(m * 10 ** d for d in range(-4, 8) for m in (1, 2, 5))
    lo = max([c for c in cands if c <= lo * 0.9] or [cands[0]])
    hi = min([c for c in cands if c >= hi * 1.1] or [cands[-1]])
    return lo, hi


def marker(kind, x, y, colour):
    if kind == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    if kind == "triangle":
        return (f'<polygon points="{x:.1f},{y - 5:.1f} {x + 5:.1f},{y + 4:.1f} {x - 5:.1f},{y + 4:.1f}"'
                f' fill="{colour}"/>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"/>'


def panel(out, x0, y0, w, h, title, ylabel, counts, series):
    """series: [(label, colour, marker, [(n, value)])]"""
    xs_lo, xs_hi = min(counts), max(counts)
    if xs_lo == xs_hi:
        xs_lo, xs_hi = xs_lo / 2, xs_hi * 2
    # a little room left and right of the first and last count
    xl, xh = math.log10(xs_lo) - 0.12, math.log10(xs_hi) + 0.12
    ys = [v for _, _, _, pts in series for _, v in pts if v > 0]
    ylo, yhi = axis_range(ys or [1])
    yl, yh = math.log10(ylo), math.log10(yhi)

    def px(n):
        return x0 + (math.log10(n) - xl) / (xh - xl) * w

    def py(v):
        return y0 + h - (math.log10(v) - yl) / (yh - yl) * h

    out.append(f'<text x="{x0 + w / 2:.1f}" y="{y0 - 12}" text-anchor="middle" font-size="14"'
               f' font-weight="bold">{escape(title)}</text>')
    out.append(f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="#fff" stroke="#888"/>')
    for t in log_ticks(ylo, yhi):
        y = py(t)
        major = abs(math.log10(t) - round(math.log10(t))) < 1e-9
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}"'
                   f' stroke="{"#ccc" if major else "#eee"}"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{num_label(t)}</text>')
    decades = [10 ** d for d in range(math.floor(xl), math.ceil(xh) + 1) if xl <= d <= xh]
    for t in sorted(set(decades) | set(counts)):
        x = px(t)
        out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + h}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{y0 + h + 16}" text-anchor="middle" font-size="11">'
                   f'{count_label(t)}</text>')
    out.append(f'<text x="{x0 + w / 2:.1f}" y="{y0 + h + 34}" text-anchor="middle" font-size="12">'
               f'members (log scale)</text>')
    out.append(f'<text transform="translate({x0 - 46},{y0 + h / 2:.1f}) rotate(-90)" text-anchor="middle"'
               f' font-size="12">{escape(ylabel)}</text>')
    for label, colour, kind, pts in series:
        pts = [(n, v) for n, v in sorted(pts) if v > 0]
        if len(pts) > 1:
            path = " ".join(f"{px(n):.1f},{py(v):.1f}" for n, v in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for n, v in pts:
            out.append(marker(kind, px(n), py(v), colour))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py RESULTS.txt OUT.svg")
    vals, info = read(sys.argv[1])
    counts = sorted({n for n, _, _ in vals})
    if not counts:
        sys.exit(f"plot.py: no render_n*_s lines in {sys.argv[1]}")

    def series(metric, scale):
        return [(label, colour, kind, [(n, vals[(n, key, metric)] * scale) for n in counts
                                       if (n, key, metric) in vals])
                for key, label, colour, kind in ENGINES]

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}"'
           f' {FONT} fill="#222">',
           f'<rect width="{W}" height="{H}" fill="#fafafa"/>',
           f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">'
           f'Rendering haproxy.cfg from a serf member list: whole process, best of '
           f'{escape(info.get("render_repeat", "?"))}</text>']
    sub = ", ".join(x for x in (info.get("render_date", ""), info.get("render_haserf", ""),
                                "node " + info.get("render_node", "?"),
                                "mustache.js " + info.get("render_mustache_js", "?"),
                                "handlebars.js " + info.get("render_handlebars_js", "?")) if x)
    out.append(f'<text x="{W / 2}" y="42" text-anchor="middle" font-size="11" fill="#555">{escape(sub)}</text>')
    pw, ph, top = 330, 215, 80
    panel(out, 80, top, pw, ph, "Elapsed time", "seconds", counts, series("s", 1))
    panel(out, 80 + pw + 100, top, pw, ph, "Max RSS", "MiB", counts, series("rss_kib", 1 / 1024))
    # legend, one row under both panels
    lx, ly = 130, H - 14
    for _, label, colour, kind in ENGINES:
        out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 28}" y2="{ly - 4}" stroke="{colour}" stroke-width="2"/>')
        out.append(marker(kind, lx + 14, ly - 4, colour))
        out.append(f'<text x="{lx + 36}" y="{ly}" font-size="12">{escape(label)}</text>')
        lx += 36 + 8 * len(label) + 40
    out.append("</svg>")
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
