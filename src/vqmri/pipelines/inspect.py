"""`vqmri data inspect`: what a dataset holds (layout, splits, subjects, slices, stored shapes, intensities) and a
few slices of each split for a montage."""
from __future__ import annotations

import numpy as np

from ..data.cache import load_split
from ..data.layouts import discover


def inspect_data(path: str, image_size: int = 128, axis: str = "axial", split_seed: int = 0,
                 skip_bad: bool = False) -> tuple[dict, list[tuple[np.ndarray, str]]]:
    """The report (JSON keys `layout`, `splits`, `total`, `shapes`, `intensity`, ...) and up to 8 (slice, title)
    pairs a split for a montage."""
    found = discover(path, seed=split_seed)
    report = {"layout": found.layout, "root": found.root, "split_policy": found.split_policy, "splits": {},
              "total": {}, "shapes": {}, "intensity": {}, "skipped": [], "ignored": found.ignored}
    shown, subjects, total = [], set(), 0
    for name, sources in found.splits.items():
        if not sources:
            continue
        c = load_split(sources, image_size, axis, skip_bad=skip_bad)
        subj = {m["subject"] for m in c.meta}
        report["splits"][name] = {"subjects": len(subj), "slices": len(c.meta)}
        subjects |= subj
        total += len(c.meta)
        for m in c.meta:
            key = "x".join(map(str, m["stored_shape"]))  # as in the files, e.g. 256x128
            report["shapes"][key] = report["shapes"].get(key, 0) + 1
        report["skipped"] += c.skipped
        if len(c.images):
            im = np.asarray(c.images)
            report["intensity"][name] = {"mean": float(im.mean()), "std": float(im.std()),
                                         "p1": float(np.percentile(im, 1)), "p99": float(np.percentile(im, 99)),
                                         "foreground_fraction": float((im > 0.1).mean())}
            idx = np.linspace(0, len(im) - 1, min(8, len(im))).astype(int)
            shown += [(im[i], f"{name}: {c.meta[i]['subject']}") for i in idx]
    report["total"] = {"subjects": len(subjects), "slices": total}
    return report, shown


def inspect_warnings(report: dict) -> list[str]:
    """The lines for standard error: non-image files ignored, unreadable files skipped (first five of each)."""
    lines = []
    if report["ignored"]:
        more = f" and {len(report['ignored']) - 5} more" if len(report["ignored"]) > 5 else ""
        lines.append(f"warning: ignored {len(report['ignored'])} non-image file(s): "
                     + ", ".join(report["ignored"][:5]) + more)
    if report["skipped"]:
        lines.append(f"skipped {len(report['skipped'])} unreadable file(s): " + "; ".join(report["skipped"][:5]))
    return lines


def format_inspect(report: dict) -> str:
    lines = [f"layout: {report['layout']} ({report['root']}), splits by {report['split_policy']}"]
    for name, v in report["splits"].items():
        lines.append(f"  {name:9s} {v['subjects']:5d} subjects {v['slices']:7d} slices")
    lines.append(f"  {'total':9s} {report['total']['subjects']:5d} subjects {report['total']['slices']:7d} slices")
    lines.append("shapes: " + ", ".join(f"{k} ({v})" for k, v in sorted(report["shapes"].items())))
    if report.get("montage"):
        lines.append(f"montage: {report['montage']}")
    return "\n".join(lines)
