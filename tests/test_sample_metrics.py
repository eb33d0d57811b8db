"""The sample-quality figures must separate what differs and not what does not."""
import numpy as np
import pytest
import torch

from vqmri.evaluation.classifier import as_written
from vqmri.evaluation.similarity import (
    mean_pairwise_ssim,
    nearest_code_match,
    nearest_ssim,
    position_coverage,
    precision_recall,
)
from vqmri.evaluation.two_sample import fold_of, two_sample_accuracy, two_sample_fold_accuracies, two_sample_test


def _blobs(n, seed, width=30.0):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    c = torch.rand(n, 2, generator=g) * 16 + 8
    return torch.exp(-((yy - c[:, :1, None]) ** 2 + (xx - c[:, 1:, None]) ** 2) / width)[:, None]


def test_two_sample_accuracy_and_auc_separate_different_sets_and_not_equal_ones():
    torch.manual_seed(0)
    noise = torch.rand(48, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    apart, same = two_sample_test(noise, _blobs(48, 2)), two_sample_test(_blobs(48, 3), _blobs(48, 4))
    assert np.mean(apart.folds) >= 0.9 and 0.25 <= np.mean(same.folds) <= 0.75
    assert len(apart.auc) == len(apart.folds) == 4
    assert np.mean(apart.auc) >= 0.95 and 0.2 <= np.mean(same.auc) <= 0.8
    # the mean of the folds is what two_sample_accuracy reports
    assert two_sample_accuracy(_blobs(8, 5), _blobs(8, 6), folds=2) == np.mean(
        two_sample_test(_blobs(8, 5), _blobs(8, 6), folds=2).folds)


class _Brightness(torch.nn.Module):
    """A judge that sees only mean intensity: brighter than the cut -> label 1 (or darker, if label 1 is darker)."""

    def __init__(self, cut, sign):
        super().__init__()
        self.cut, self.sign = cut, sign

    def forward(self, x):
        return self.sign * (x.mean((1, 2, 3)) - self.cut)[:, None]


def test_two_sample_test_scores_with_the_judge_it_is_given():
    """A second judge replaces the CNN in every fold, trained on that fold's training part only: a brightness judge
    tells narrow blobs from wide (brighter) ones perfectly, and a judge that answers 0 for all scores chance where
    the CNN tells noise from blobs."""
    seen = []

    def brightness(x, y, g):
        seen.append(len(x))
        one, zero = x[y == 1].mean(), x[y == 0].mean()
        return _Brightness((one + zero) / 2, 1.0 if one > zero else -1.0)

    res = two_sample_test(_blobs(40, 2, width=80.0), _blobs(40, 3), judge=brightness)
    assert res.folds == [1.0] * 4 and seen == [60] * 4
    noise = torch.rand(80, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    blind = two_sample_test(noise, _blobs(80, 2), judge=lambda x, y, g: _Brightness(0.0, 0.0))
    assert blind.folds == [0.5] * 4 and blind.recall_generated == 0.0


class _OnGrid(torch.nn.Module):
    """A judge that answers 'generated' for images whose pixels sit on the 8-bit grid, as sample PNGs do."""

    def forward(self, x):
        return ((x * 255 - (x * 255).round()).abs() < 1e-4).float().mean((1, 2, 3))[:, None] - 0.5


def test_two_sample_test_cannot_tell_8_bit_files_from_floating_point():
    """Samples are read back from 8-bit PNGs, reconstructions stay in floating point: rounding alone must not
    separate two sets of the same images (it did, perfectly, before both sides were compared as written)."""
    noise = torch.rand(80, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    res = two_sample_test(as_written(noise), noise + 1e-3 * (noise < 0.5), judge=lambda x, y, g: _OnGrid())
    assert res.folds == [0.5] * 4

def _subjects(k, per, seed):
    """k 'subjects', each a blob of its own place and width, seen `per` times with a slight wobble."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    out, subject = [], []
    for s in range(k):
        c, w = torch.rand(2, generator=g) * 16 + 8, 15 + 30 * torch.rand(1, generator=g)
        for _ in range(per):
            cc = c + 0.3 * torch.randn(2, generator=g)
            out.append(torch.exp(-((yy - cc[0]) ** 2 + (xx - cc[1]) ** 2) / w))
            subject.append(f"s{s}")
    return torch.stack(out)[:, None], subject


def test_subject_folds_stop_the_classifier_telling_new_subjects_from_known_ones():
    """Fresh subjects drawn like the test subjects: with a test subject's slices on both sides of the split the
    classifier learns those subjects and calls everything else generated (0.94 when written); with the subjects kept
    whole it cannot (0.54). The recalls show how it fails then: held-out test subjects are new to it, so it calls
    them generated too (recall of the test side 0.15, of the fresh side 0.97 when written)."""
    test, subject = _subjects(6, 12, 1)
    fresh, _ = _subjects(72, 1, 2)
    split = two_sample_test(fresh, test)
    assert np.mean(split.folds) >= 0.8
    # equal index folds: the mean of the per-fold balanced accuracies is the mean of the two pooled recalls
    assert abs(np.mean(split.folds) - (split.recall_generated + split.recall_other) / 2) < 1e-6
    whole = two_sample_test(fresh, test, groups=(None, subject))
    assert np.mean(whole.folds) <= 0.7
    assert whole.recall_generated - whole.recall_other >= 0.4


def test_subject_folds_keep_each_subject_whole_and_balance_the_folds():
    subject = [f"s{i % 7}" for i in range(60)] + ["big"] * 20
    part = fold_of(len(subject), 4, subject, torch.Generator().manual_seed(0))
    assert all(len({int(f) for f, s in zip(part, subject) if s == name}) == 1 for name in set(subject))
    sizes = torch.bincount(part, minlength=4).tolist()
    assert min(sizes) > 0 and max(sizes) <= 25, sizes
    assert fold_of(6, 4, None, torch.Generator()).tolist() == [0, 1, 2, 3, 0, 1]
    # two slices of one subject cannot be split by subject: index folds, not an error (`vqmri sample -n 2`)
    assert len(two_sample_fold_accuracies(_blobs(2, 8), _blobs(2, 9), groups=(None, ["a", "a"]), epochs=1)) == 2


def test_memorisation_and_diversity():
    ref = _blobs(20, 5)
    queries = torch.cat([ref[:3], torch.rand(2, 1, 32, 32)])
    best = nearest_ssim(queries, ref)
    assert torch.allclose(best[:3], torch.ones(3), atol=1e-4) and (best[3:] < 0.5).all()
    assert abs(mean_pairwise_ssim(ref[:1].expand(5, -1, -1, -1).clone()) - 1) < 1e-4
    assert mean_pairwise_ssim(torch.rand(6, 1, 32, 32)) < 0.2


def test_two_sample_accuracy_is_stable_across_seeds_and_holds_out_every_image():
    """Blobs of two widths are easy to tell apart; every seed (a different cut into folds and a different
    classifier initialisation) must say so. A classifier scored where a constant learning rate left it did not."""
    narrow, wide = _blobs(48, 6, 20.0), _blobs(48, 7, 40.0)
    for seed in range(2):
        folds = two_sample_fold_accuracies(narrow, wide, seed)
        assert len(folds) == 4 and min(folds) >= 0.75, (seed, folds)
    acc = two_sample_accuracy(narrow[:3], wide[:3])  # three folds of one image a class: all six scored once
    assert abs(acc * 6 - round(acc * 6)) < 1e-9


def test_code_match_finds_copied_maps_across_levels():
    """A copied code map scores 1, a map with a quarter of its codes changed 0.75, an unrelated one near 1/K."""
    g = torch.Generator().manual_seed(0)
    top, bottom = torch.randint(0, 64, (30, 2, 2), generator=g), torch.randint(0, 64, (30, 4, 4), generator=g)
    changed = [top[4:5].clone(), bottom[4:5].clone()]
    changed[1][0, :2, :] = (changed[1][0, :2, :] + 1) % 64  # 8 of 20 positions
    fresh = [torch.randint(0, 64, (1, 2, 2), generator=g), torch.randint(0, 64, (1, 4, 4), generator=g)]
    queries = [torch.cat([top[:1], changed[0], fresh[0]]), torch.cat([bottom[:1], changed[1], fresh[1]])]
    match = nearest_code_match(queries, [top, bottom], chunk=2)
    assert match[0] == 1 and abs(float(match[1]) - 12 / 20) < 1e-6 and match[2] <= 0.25


def test_realism_filter_keeps_the_candidates_that_look_like_the_real_side():
    """A generator whose output is half real-looking blobs, half noise: fitted on its first part against the real
    side, the filter keeps real-looking candidates it never saw, where a random pick would keep half noise."""
    from vqmri.pipelines.selection import realism_filter

    real_like = _blobs(120, 5)
    noise = torch.rand(120, 1, 32, 32, generator=torch.Generator().manual_seed(6))
    is_noise = torch.arange(240) % 2 == 1
    pool = torch.empty(240, 1, 32, 32)
    pool[~is_noise], pool[is_noise] = real_like, noise
    kept, info = realism_filter(pool, _blobs(80, 7), n_fit=80, n_keep=40, epochs=15)
    assert len(kept) == len(set(kept.tolist())) == 40 and kept.min() >= 80  # never a sample it was fitted on
    assert is_noise[kept].float().mean() <= 0.1 and is_noise[80:].float().mean() == 0.5
    assert info["fit"] == 80 and info["candidates"] == 160


def test_a_set_of_one_kind_keeps_precision_and_loses_recall_and_coverage():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(200, 8, generator=g)
    varied = torch.randn(200, 8, generator=g)
    one_kind = real[:5].repeat(40, 1) + 0.01 * torch.randn(200, 8, generator=g)
    fair, collapsed = precision_recall(varied, real), precision_recall(one_kind, real)
    assert fair["precision"] > 0.7 and fair["recall"] > 0.7
    assert collapsed["precision"] > 0.9 and collapsed["recall"] < 0.3
    # slice positions: blobs whose size grows with the position stand in for a stack; samples all from its start
    stack = torch.stack([_blobs(1, i, width=10.0 + i)[0] for i in range(40)])
    positions = torch.linspace(0, 1, 40)
    spread = position_coverage(stack.flip(0), stack, positions)
    start = position_coverage(stack[:4].repeat(10, 1, 1, 1), stack, positions)
    assert spread["coverage"] == 1.0 and spread["tv"] < 0.05
    assert start["coverage"] <= 0.25 and start["tv"] > 0.7


def test_paired_sets_share_their_picks_and_folds():
    """Reconstructions against their own real slices: a subject is held out in both forms at once, so every image a
    judge trains on comes with its twin."""
    real = _blobs(40, 5)
    subjects = [i // 4 for i in range(40)]
    seen = []

    def judge(x, y, g):  # a judge that answers both classes (a constant one is refitted: see below)
        seen.append(x)
        return _Brightness(float(x.mean((1, 2, 3)).median()), 1.0)

    two_sample_test(real, real.clone(), groups=(subjects, subjects), paired=True, judge=judge)
    assert len(seen) == 4
    for x in seen:
        _, counts = torch.unique(x.flatten(1), dim=0, return_counts=True)
        assert (counts == 2).all()
    # capped at the samples' number, the judge trains on as many images as the samples' judge does
    seen.clear()
    res = two_sample_test(real, real.clone(), groups=(subjects, subjects), paired=True, judge=judge, limit=12)
    assert sum(len(x) for x in seen) == 3 * 2 * 12 and res.recall_generated >= 0


def _brain_slices(n=96, size=64):
    """Real IXI slices of the built-in sample (sample:brain) at `size` px, with each slice's subject."""
    from vqmri.config import resolve
    from vqmri.data.datamodule import load_cached
    from vqmri.data.layouts import discover

    cfg = resolve("sample", overrides=[f"data.image_size={size}"])
    found = discover("sample:brain")
    held = load_cached(found, "train", cfg)
    pick = np.linspace(0, len(held.images) - 1, n).round().astype(int)
    return torch.from_numpy(np.array(held.images, np.float32)[pick])[:, None], [held.meta[i]["subject"] for i in pick]


def test_judge_tells_real_slices_from_the_same_slices_with_visible_noise_at_every_size():
    """The instrument check: real brain slices against the same slices with noise a person sees (sigma 0.08) are told
    apart at 32 px, 64 px and the model's size, and two halves of the real slices are not."""
    from vqmri.evaluation.samples import judge_at_sizes

    real, subjects = _brain_slices()
    noisy = (real + 0.08 * torch.randn(real.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    model_size = two_sample_test(noisy, real, groups=(None, subjects))
    by_size = judge_at_sizes(noisy, real, real, 0, subjects, None,
                             {"vs_real": model_size, "recon_vs_real": model_size})
    assert set(by_size) == {"32", "64"}
    for px, t in by_size.items():
        assert t["vs_real"] >= 0.85, (px, t)
        assert not any(t["collapsed"].values()), (px, t)
    half = len(real) // 2
    same = two_sample_test(real[:half], real[half:], groups=(subjects[:half], subjects[half:]))
    assert np.mean(same.folds) <= 0.8


def test_a_judge_that_answers_one_class_is_refitted_and_reported_collapsed():
    """A fit that calls nearly all of its own training images one class has not learnt and reads 0.5 on anything: it
    is refitted with other seeds, and reported `collapsed` when no fit learns."""
    noise = torch.rand(40, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    calls = []

    def constant(x, y, g):
        calls.append(1)
        return _Brightness(-1.0, 1.0)  # every image 'generated'

    res = two_sample_test(noise, _blobs(40, 2), judge=constant)
    assert res.collapsed == [True] * 4 and res.any_collapsed and res.refits == 12 and len(calls) == 16
    learns = two_sample_test(noise, _blobs(40, 2))
    assert not learns.any_collapsed and np.mean(learns.folds) >= 0.9


@pytest.mark.parametrize("n", [6, 12])
@pytest.mark.parametrize("damage", ["noise images", "visible noise"])
def test_a_judge_fitted_on_a_handful_of_slices_learns(n, damage):
    """With a handful of slices a side the judge's batch-norm statistics come from a few steps of a moving average:
    fitted so, it called all of its own training images one class (a collapse, accuracy 0.5, AUC 1.0). Settled on
    the final weights (`classifier.settle_batch_norm`) it tells damaged slices from real ones at accuracy."""
    real, subjects = _brain_slices(n, 32)
    g = torch.Generator().manual_seed(n)
    damaged = (torch.rand(real.shape, generator=g) if damage == "noise images"
               else (real + 0.15 * torch.randn(real.shape, generator=g)).clamp(0, 1))
    res = two_sample_test(damaged, real, groups=(None, subjects))
    assert not res.any_collapsed and np.mean(res.folds) >= 0.9, res
