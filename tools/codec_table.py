#!/usr/bin/python3
"""Renders a codec accuracy table (edgesplit eval --sweep -o FILE.json) as Markdown.

Usage: tools/codec_table.py FILE.json [FILE.json...]
One table per file: a row per codec, a column per natural bottleneck, each cell
"mean bytes per request / accuracy drop in points vs f32" (agreement with f32
instead of the drop when the inputs were unlabelled).
"""
import json
import sys


def render(path):
    t = json.load(open(path))
    cuts, codecs, cell = [], [], {}
    for e in t["entries"]:
        key = (e["cut_index"], e["after"], tuple(e["shape"]), e["cut_dtype"])
        if key not in cuts:
            cuts.append(key)
        if e["codec"] not in codecs:
            codecs.append(e["codec"])
        if e["accuracy_drop"] is not None:
            metric = f"{e['accuracy_drop']:+.2f}"
        else:
            metric = f"{100 * e['agreement']:.1f}%"
        cell[(key, e["codec"])] = f"{e['cut_bytes']:.0f} / {metric}"
    acc = t["accuracy"]
    head = (f"{t['model']} ({t['dtype']}), {t['samples']} {t['data']} inputs"
            + (f": accuracy {acc:.4f} (f32 {t['f32_accuracy']:.4f})" if acc is not None else ""))
    print(f"**{head}**\n")
    print("| codec | " + " | ".join(f"cut {c[0]} {'x'.join(map(str, c[2][1:]))} {c[3]}" for c in cuts) + " |")
    print("|---" * (len(cuts) + 1) + "|")
    for codec in codecs:
        print(f"| {codec} | " + " | ".join(cell.get((c, codec), "-") for c in cuts) + " |")
    print()


for p in sys.argv[1:]:
    render(p)
