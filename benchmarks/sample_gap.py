"""Where a two-level run's samples are told apart (issue 40): each stage of sampling judged alone against real test
slices at small sizes, so that the gap between the reconstruction floor and the samples is split between the top
prior, the bottom prior and the top-only decoder. The sets are made from test subjects' codes (256 slices), the real
side is validate subjects' slices (no head on both sides; the same reference as `evaluate-samples`' real-vs-real null).
Splitting the test subjects in two halves instead left ~11 subjects a side, and real-vs-real read 0.26: too few heads
for a judge's folds. The drawn tops take the position labels of the slices whose codes the other sets use.

  real             the test subjects' real slices (the null: near 0.5)
  real_noisy       the same with Gaussian noise of sd 0.05 (the judge must read near 1: it is not collapsed)
  recon            real top + real bottom (the decoder's floor)
  top_only         decode_top(real top): what the top alone carries
  true_top_drawn   real top + the whole bottom drawn by the prior (the bottom prior alone)
  true_top_guided  real top + bottom started from the top's decoding, REDRAW share redrawn at random (guided.py)
  drawn_top_only   decode_top(drawn top) (the top prior alone, beside top_only)
  filtered_top_only  decode_top(drawn tops kept by `vqmri sample --filter 4`'s top filter, selection.filter_tops)
  drawn_guided     drawn top + guided bottom (what `vqmri sample --bottom-redraw REDRAW` makes)
  drawn_drawn      drawn top + whole bottom drawn
  gauss_top_only   decode_top(tops drawn from a Gaussian over the training tops' vectors: `gaussian_tops`)
  gauss_top_refined  decode_top(those tops with GAUSS_REDRAW (env, default 0.25) of their codes redrawn by the prior)
  gauss_top_drawn  Gaussian top + whole bottom drawn by the prior

Usage: python benchmarks/sample_gap.py RUN_DIR OUT.json [SIZES] [REDRAW] [SETS] [T_TOP[,T_BOTTOM]] [STEPS]
                                         [REFINE[,REFINE_BOTTOM]] [REFINE_SHARE] [GUIDANCE[,GUIDANCE_BOTTOM]]
       (SIZES default 32; REDRAW 0.25; SETS a comma list of the names above, default all; temperatures: one for both
       levels or one each, default 1.0; STEPS: the parallel steps of every masked-code level, default its `prior.steps`
       ("-": default); REFINE: corrector rounds of the masked-code levels (`vqmri sample --refine`), REFINE_SHARE:
       the share of a map each round redraws, GUIDANCE: classifier-free guidance (`--guidance`); each "-" or left
       out: the run's own; env CHOICE_T: the choice temperature of every masked-code level
       (`--choice-temperature`), default the run's; GAUSS_K: the Gaussian tops' principal components a class,
       default 64; GAUSS_T: their scale, default 1)
"""
import json
import os
import sys
import time

import torch

import vqmri
from vqmri.codes import cached_codes, position_labels, reconstruct_pick
from vqmri.data.datamodule import discover_from_config
from vqmri.evaluation.two_sample import at_size, two_sample_test
from vqmri.inference.guided import lowest_share, start_bottom
from vqmri.inference.sampling import check_sampling, keep_top, masked_sampling, sample_codes
from vqmri.models.gaussian_top import GaussianTop
from vqmri.pipelines.selection import filter_tops
from vqmri.training.prior import fit_gaussian_top

ALL = ["real", "real_noisy", "recon", "top_only", "true_top_drawn", "true_top_guided", "drawn_top_only",
       "filtered_top_only", "drawn_guided", "drawn_drawn", "gauss_top_only", "gauss_top_refined", "gauss_top_drawn"]


def gaussian_tops(model, labels: torch.Tensor | None, classes: int, k: int, scale: float, seed: int) -> torch.Tensor:
    """Top codes (n, h, w) drawn by the package's Gaussian top (`prior.top_sampler=gaussian`, models/gaussian_top.py)
    of `k` components a class, fitted here to the train split's tops (so that any run's prior can be probed), one draw
    for each of `labels`, its deviation from the mean times `scale`."""
    g = GaussianTop(max(1, classes), k, model.code_shapes()[0], model.codebook(0).shape[1], model.codebook_sizes[0])
    fit_gaussian_top(g, model, classes, 1.0)
    n = 256 if labels is None else len(labels)
    return g.sample(n, labels, scale, torch.Generator().manual_seed(seed))


def main():
    run, out = sys.argv[1], sys.argv[2]
    sizes = [int(s) for s in (sys.argv[3] if len(sys.argv) > 3 else "32").split(",")]
    redraw = float(sys.argv[4]) if len(sys.argv) > 4 else 0.25
    sets = sys.argv[5].split(",") if len(sys.argv) > 5 else ALL
    temps = check_sampling(2, [float(t) for t in (sys.argv[6] if len(sys.argv) > 6 else "1.0").split(",")])
    model = vqmri.load(run, device="cpu")
    prior = model.prior()
    steps = int(sys.argv[7]) if len(sys.argv) > 7 and sys.argv[7] != "-" else None
    refine = [int(r) for r in sys.argv[8].split(",")] if len(sys.argv) > 8 and sys.argv[8] != "-" else None
    share = float(sys.argv[9]) if len(sys.argv) > 9 and sys.argv[9] != "-" else None
    guidance = [float(g) for g in sys.argv[10].split(",")] if len(sys.argv) > 10 else None
    choice = float(os.environ["CHOICE_T"]) if "CHOICE_T" in os.environ else None
    # for the whole script: how every masked-code level draws (held in a name: a context manager left to the
    # garbage collector closes at once and restores the run's own settings)
    drawing = masked_sampling(prior, steps, refine, share, guidance, choice)
    drawing.__enter__()
    shapes = model.code_shapes()
    data = discover_from_config(model.config, model.run.root)
    real, _, subjects = reconstruct_pick(model, data, "test", None, with_real=True)
    other, _, subj = reconstruct_pick(model, data, "validate", None, with_real=True)
    codes, pos = cached_codes(model, "test")
    gen = torch.Generator().manual_seed(0)
    n = min(256, len(real), len(other))
    pick = torch.randperm(len(real), generator=gen)[:n]
    top, bottom = codes[0][pick], codes[1][pick]
    label = position_labels(pos[pick], prior.num_classes) if prior.num_classes else None

    def guided(t, seed):
        b = start_bottom(model, t)
        chosen = lowest_share(torch.rand(b.shape, generator=torch.Generator().manual_seed(seed)), redraw)
        return sample_codes(prior, n, shapes, seed, temps, label=label,
                            fixed=keep_top(t, shapes[1], b, chosen))

    def top_only(t):
        return torch.cat([model.net.decode_top(t[i:i + 64]) for i in range(0, len(t), 64)])

    drawn = {}

    def drawn_top():
        if "top" not in drawn:
            drawn["top"] = sample_codes(prior, n, shapes, 5, temps, label=label, levels=1)[0]
        return drawn["top"]

    def filtered_top():
        labels_for = (lambda size: None) if label is None else (lambda size: label.repeat(-(-size // n))[:size])
        kept, tops, _, info = filter_tops(model, prior, n, 4, 1024, 6, temps, labels_for=labels_for)
        drawn["filter"] = info
        return tops[kept]

    def gauss_top():
        if "gauss" not in drawn:
            drawn["gauss"] = gaussian_tops(model, label, prior.num_classes, int(os.environ.get("GAUSS_K", 64)),
                                           float(os.environ.get("GAUSS_T", 1.0)), 6)
        return drawn["gauss"]

    def gauss_refined():
        g = gauss_top()
        chosen = lowest_share(torch.rand(g.shape, generator=torch.Generator().manual_seed(7)),
                              float(os.environ.get("GAUSS_REDRAW", 0.25)))
        return sample_codes(prior, n, shapes, 7, temps, label=label, fixed=[(g, chosen)], levels=1)[0]

    noise_gen = torch.Generator().manual_seed(9)
    makers = {
        "real": lambda: real[pick],
        "real_noisy": lambda: real[pick] + 0.05 * torch.randn(n, *real.shape[1:], generator=noise_gen),
        "recon": lambda: model.decode_batched([top, bottom]),
        "top_only": lambda: top_only(top),
        "true_top_drawn": lambda: model.decode_batched(
            sample_codes(prior, n, shapes, 1, temps, label=label, fixed=keep_top(top, shapes[1]))),
        "true_top_guided": lambda: model.decode_batched(guided(top, 2)),
        "drawn_top_only": lambda: top_only(drawn_top()),
        "filtered_top_only": lambda: top_only(filtered_top()),
        "drawn_guided": lambda: model.decode_batched(guided(drawn_top(), 3)),
        "drawn_drawn": lambda: model.decode_batched(
            sample_codes(prior, n, shapes, 4, temps, label=label, fixed=keep_top(drawn_top(), shapes[1]))),
        "gauss_top_only": lambda: top_only(gauss_top()),
        "gauss_top_refined": lambda: top_only(gauss_refined()),
        "gauss_top_drawn": lambda: model.decode_batched(
            sample_codes(prior, n, shapes, 8, temps, label=label, fixed=keep_top(gauss_top(), shapes[1]))),
    }
    made_from = [subjects[i] for i in pick.tolist()]
    res = {"run": run, "split": "test codes vs validate real", "n_a_side": n, "bottom_redraw": redraw,
           "temperatures": temps, "maskgit_steps": [getattr(net, "steps", None) for net in prior.nets],
           "refine_rounds": [getattr(net, "refine_rounds", None) for net in prior.nets],
           "refine_share": [getattr(net, "refine_share", None) for net in prior.nets],
           "guidance": [getattr(net, "guidance", None) for net in prior.nets],
           "choice_temperature": [getattr(net, "choice_temperature", None) for net in prior.nets],
           "judge": "evaluate-samples CNN, seed 0", "sets": {}}
    for name in sets:
        t0 = time.time()
        with torch.no_grad():
            images = makers[name]().clamp(0, 1)
        made = time.time() - t0
        row = {"make_seconds": round(made, 1)}
        if name == "filtered_top_only":
            row["filter"] = drawn["filter"]
        for px in sizes:
            groups = (None if name.startswith(("drawn_", "filtered_", "gauss_")) else made_from, subj)
            r = two_sample_test(at_size(images, px), at_size(other, px), 0, groups=groups)
            row[f"{px}px"] = round(sum(r.folds) / len(r.folds), 3)
            row[f"{px}px_collapsed"] = r.any_collapsed
        res["sets"][name] = row
        print(name, row, flush=True)
        json.dump(res, open(out, "w"), indent=1)
    drawing.__exit__(None, None, None)


if __name__ == "__main__":
    main()
