"""How good are generated samples, all figures in one dict: the two-sample test against real slices (the headline),
against reconstructions and its references, memorisation and diversity; and the summary printed from it."""
from __future__ import annotations

import numpy as np
import torch

from .classifier import as_written, fit_classifier, penultimate
from .similarity import mean_pairwise_ssim, nearest_code_match, nearest_ssim, position_coverage, precision_recall
from .two_sample import TwoSampleResult, at_size, two_sample_test


def evaluate_samples(samples: torch.Tensor, real_test: torch.Tensor, recon_test: torch.Tensor,
                     train: torch.Tensor, seed: int = 0, codes: dict | None = None,
                     test_subjects: list | None = None,
                     null: tuple[torch.Tensor, torch.Tensor, list] | None = None,
                     test_positions: torch.Tensor | None = None) -> dict:
    """All image tensors (N, 1, S, S) in [0, 1]; `real_test[i]` and `recon_test[i]` are one slice. `codes`, when the
    samples' code maps are known: lists of (B, h, w) maps, one a level, under "samples", "test" and "train"; adds the
    code-space memorisation figures. `test_subjects`: the subject of each test slice, so the two-sample folds keep
    subjects whole. `null`: real slices of other held-out subjects, their reconstructions and their subjects: scored
    against the test slices like the samples are, they give what a generator of perfect new subjects would score.
    `test_positions`: each test slice's place in its stack (0..1), for the coverage of slice positions.
    The headline is `two_sample_acc_vs_real`; `two_sample_acc_recon_vs_real` is its floor (the decoder's own
    distance from real slices), `two_sample_acc_real_null` its 0.5 reference."""
    n = min(len(samples), len(real_test))
    grouped = (None, test_subjects)
    tests: dict[str, TwoSampleResult] = {
        "vs_real": two_sample_test(samples, real_test, seed, groups=grouped),
        # at the samples' n: a judge fitted on all test slices would be stronger than the one that scores the samples
        "recon_vs_real": two_sample_test(recon_test, real_test, seed, groups=(test_subjects, test_subjects),
                                         paired=True, limit=len(samples)),
        "vs_reconstructions": two_sample_test(samples, recon_test, seed, groups=grouped)}
    if null is not None:
        real_null, recon_null, subjects_null = null
        tests["real_null"] = two_sample_test(real_null, real_test, seed, groups=(subjects_null, test_subjects))
        tests["null"] = two_sample_test(recon_null, recon_test, seed, groups=(subjects_null, test_subjects))
    res = {"n_samples": len(samples), "n_test": len(real_test)}
    res.update({f"two_sample_acc_{k}": float(np.mean(t.folds)) for k, t in tests.items()})
    # a test whose judge never learnt (every fit of a fold collapsed) reads 0.5 on anything
    res["two_sample_collapsed"] = {k: t.any_collapsed for k, t in tests.items()}
    res["two_sample_by_size"] = judge_at_sizes(samples, real_test, recon_test, seed, test_subjects, null, tests)
    res.update({
        # 4-fold: every image of both sets is held out once, so n a class are scored; below ~50 a class the
        # accuracy says little (a constant guess scores 0.5; its standard error is about 0.5 / sqrt(2 n))
        "two_sample_heldout_per_class": n,
        "two_sample_folds": {k: t.folds for k, t in tests.items()},
        # share of each set called right over all held-out images: which way the classifier errs
        "two_sample_recall": {k: t.recalls() for k, t in tests.items()},
        # mean over folds of the area under the ROC curve (0.5 = indistinguishable at any threshold)
        "two_sample_auc": {k: float(np.mean(t.auc)) for k, t in tests.items()},
        # subjects given; at a handful of slices a pick of one subject falls back to index folds (see above)
        "two_sample_folds_by_subject": test_subjects is not None,
        # test slices a subject in the classifier's pick (about): above ~8 it learns the subjects' heads and calls
        # new subjects generated, pulling the accuracy towards 0.5 (OASIS, benchmarks/RESULTS.md): less power
        "two_sample_slices_per_subject": (round(n / len(set(test_subjects)), 1)
                                          if test_subjects is not None else None),
        "two_sample_judge": JUDGE,
        "memorisation": memorisation(samples, real_test, recon_test, train),
        "diversity": {"samples_mean_pairwise_ssim": mean_pairwise_ssim(samples[:n], seed=seed),
                      "test_mean_pairwise_ssim": mean_pairwise_ssim(real_test[:n], seed=seed),
                      "recon_mean_pairwise_ssim": mean_pairwise_ssim(recon_test[:n], seed=seed)},
    })
    if test_positions is not None:
        res["diversity"]["slice_positions"] = position_coverage(samples, real_test, test_positions)
    if len(samples) >= 8:
        res["diversity"]["precision_recall"] = feature_precision_recall(samples, real_test, train, seed)
    if codes is not None:
        res["memorisation"].update(code_memorisation(codes))
    return res


def memorisation(samples: torch.Tensor, real_test: torch.Tensor, recon_test: torch.Tensor,
                 train: torch.Tensor) -> dict:
    """Nearest-training-slice SSIM of samples, beside that of real test slices and of their reconstructions:
    decoded slices share the decoder's blur, and blur alone raises SSIM to the nearest training slice (by 0.08 for an
    8x8 code map), so the reconstructions are the baseline that separates copying from blur."""
    mem_s, mem_r, mem_rec = (nearest_ssim(x, train) for x in (samples, real_test, recon_test))
    return {"samples_nearest_train_ssim_mean": float(mem_s.mean()),
            "samples_nearest_train_ssim_max": float(mem_s.max()),
            "test_nearest_train_ssim_mean": float(mem_r.mean()),
            "test_nearest_train_ssim_p95": float(mem_r.quantile(0.95)),
            "samples_above_test_p95": int((mem_s > mem_r.quantile(0.95)).sum()),
            "recon_nearest_train_ssim_mean": float(mem_rec.mean()),
            "recon_nearest_train_ssim_p95": float(mem_rec.quantile(0.95)),
            "samples_above_recon_p95": int((mem_s > mem_rec.quantile(0.95)).sum())}


def code_memorisation(codes: dict) -> dict:
    """The share of a sample's codes equal to its nearest training map, beside the same for test maps."""
    match_s = nearest_code_match(codes["samples"], codes["train"])
    match_t = nearest_code_match(codes["test"], codes["train"])
    return {"samples_nearest_train_code_match_mean": float(match_s.mean()),
            "samples_nearest_train_code_match_max": float(match_s.max()),
            "test_nearest_train_code_match_mean": float(match_t.mean()),
            "test_nearest_train_code_match_p95": float(match_t.quantile(0.95)),
            "samples_above_test_code_match_p95": int((match_s > match_t.quantile(0.95)).sum())}


JUDGE_SIZES = (32, 64)  # besides the model's own: a judge at a coarse scale sees anatomy, not the decoder's texture


def judge_at_sizes(samples: torch.Tensor, real_test: torch.Tensor, recon_test: torch.Tensor, seed: int,
                   test_subjects: list | None, null: tuple | None, at_model: dict[str, TwoSampleResult]) -> dict:
    """The two-sample test at 32 px, 64 px and the model's size (sizes above the model's left out): samples vs
    real, beside its floor (reconstructions vs the same real slices) and its null (real slices of other held-out
    subjects), each with its AUC and whether its judge collapsed. Keys: the size in px as text."""
    size = real_test.shape[-1]
    out = {}
    for px in sorted({s for s in JUDGE_SIZES if s < size} | {size}):
        if px == size:
            tests = {k: at_model[k] for k in ("vs_real", "recon_vs_real", "real_null") if k in at_model}
        else:
            small = {name: at_size(x, px) for name, x in (("s", samples), ("t", real_test), ("r", recon_test))}
            tests = {"vs_real": two_sample_test(small["s"], small["t"], seed, groups=(None, test_subjects)),
                     "recon_vs_real": two_sample_test(small["r"], small["t"], seed,
                                                      groups=(test_subjects, test_subjects), paired=True,
                                                      limit=len(samples))}
            if null is not None:
                tests["real_null"] = two_sample_test(at_size(null[0], px), small["t"], seed,
                                                     groups=(null[2], test_subjects))
        out[str(px)] = {**{k: float(np.mean(t.folds)) for k, t in tests.items()},
                        "auc": {k: float(np.mean(t.auc)) for k, t in tests.items()},
                        "collapsed": {k: t.any_collapsed for k, t in tests.items()},
                        "refits": sum(t.refits for t in tests.values())}
    return out


# what judges the two-sample figures, so a reader can weigh them (a weak judge proves nothing)
JUDGE = {"net": "4 conv blocks (16-32-64-64 channels, batch norm, max-pool), global average pool, linear",
         "parameters": 60641, "epochs": 30, "batch_size": 32, "optimizer": "Adam, one-cycle to lr 1e-3",
         "folds": 4, "input": "8-bit slices at the model's resolution"}


def feature_precision_recall(samples: torch.Tensor, real_test: torch.Tensor, train: torch.Tensor, seed: int = 0,
                             k: int = 3) -> dict:
    """Precision and recall of samples against real test slices in the penultimate layer of the two-sample CNN,
    fitted on half of the samples against as many training slices: a space learnt to separate generated from real,
    so realism is judged where it differs; scored on the other half, which the net never saw."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(samples), generator=g)
    fit, held = order[: len(samples) // 2], order[len(samples) // 2:]
    real_fit = train[torch.randperm(len(train), generator=g)[: len(fit)]]
    x = as_written(torch.cat([samples[fit], real_fit]).float())
    y = torch.cat([torch.ones(len(fit)), torch.zeros(len(real_fit))])
    torch.manual_seed(seed)
    net = fit_classifier(x, y, 30, g)
    real = real_test[torch.randperm(len(real_test), generator=g)[: len(held)]]
    return precision_recall(penultimate(net, as_written(samples[held].float())),
                            penultimate(net, as_written(real.float())), k)


def format_summary(res: dict) -> str:
    """The lines `vqmri evaluate-samples` prints: the test against real slices first, then its references."""
    a, rc = res, res["two_sample_recall"]
    lines = [f"two-sample accuracy (0.5 = indistinguishable), samples vs real test slices: "
             f"{a['two_sample_acc_vs_real']:.3f} (AUC {a['two_sample_auc']['vs_real']:.3f}; it called "
             f"{rc['vs_real']['generated']:.0%} of the samples generated and {1 - rc['vs_real']['other']:.0%} of the "
             f"real slices generated)",
             "  floor: reconstructions of the test slices vs the same real slices "
             f"{a['two_sample_acc_recon_vs_real']:.3f}"]
    if "two_sample_acc_real_null" in a:
        lines.append(f"  reference: real slices of {a.get('two_sample_null_reference', 'other')} subjects vs the real "
                     f"test slices {a['two_sample_acc_real_null']:.3f} (what perfect new subjects score)")
    lines.append(f"  samples vs reconstructions of the test slices {a['two_sample_acc_vs_reconstructions']:.3f} "
                 f"(AUC {a['two_sample_auc']['vs_reconstructions']:.3f})"
                 + (f"; reconstructions of new subjects score {a['two_sample_acc_null']:.3f}"
                    if "two_sample_acc_null" in a else ""))
    for px, t in a.get("two_sample_by_size", {}).items():
        ref = f", real vs real {t['real_null']:.3f}" if "real_null" in t else ""
        bad = [k for k, c in t["collapsed"].items() if c]
        lines.append(f"  judged at {px} px: samples vs real {t['vs_real']:.3f}, reconstructions vs real "
                     f"{t['recon_vs_real']:.3f}{ref}" + (f" (collapsed judge: {', '.join(bad)})" if bad else ""))
    per_subject = a["two_sample_slices_per_subject"]
    if per_subject and per_subject > 8:
        lines.append(f"warning: about {per_subject:g} test slices a subject on the real side; with that many the "
                     "classifier learns the test subjects and calls new ones generated, so the accuracy reads lower "
                     "than with fewer slices a subject; compare at fewer samples, and see two_sample_recall")
    if a["two_sample_heldout_per_class"] < 50:
        lines.append(f"warning: only {a['two_sample_heldout_per_class']} held-out slices a class (the split has "
                     f"{a['n_test']}); the two-sample accuracy is not reliable at this size")
    m, dv = a["memorisation"], a["diversity"]
    lines.append(f"memorisation: nearest-train SSIM of samples {m['samples_nearest_train_ssim_mean']:.3f} "
                 f"(max {m['samples_nearest_train_ssim_max']:.3f}) vs real test "
                 f"{m['test_nearest_train_ssim_mean']:.3f}, "
                 f"vs test reconstructions {m['recon_nearest_train_ssim_mean']:.3f}")
    if "samples_nearest_train_code_match_mean" in m:
        lines.append(f"memorisation in codes: share of a sample's codes equal to its nearest training map "
                     f"{m['samples_nearest_train_code_match_mean']:.3f} (max "
                     f"{m['samples_nearest_train_code_match_max']:.3f}) vs test maps "
                     f"{m['test_nearest_train_code_match_mean']:.3f}")
    lines.append(f"diversity: mean pairwise SSIM samples {dv['samples_mean_pairwise_ssim']:.3f} vs real "
                 f"{dv['test_mean_pairwise_ssim']:.3f}")
    if "slice_positions" in dv:
        sp = dv["slice_positions"]
        lines.append(f"  slice positions covered {sp['coverage']:.0%} (total variation from real {sp['tv']:.3f})")
    if "precision_recall" in dv:
        pr = dv["precision_recall"]
        lines.append(f"  precision {pr['precision']:.3f}, recall {pr['recall']:.3f} "
                     f"(k={pr['k']}, two-sample CNN features)")
    return "\n".join(lines)
