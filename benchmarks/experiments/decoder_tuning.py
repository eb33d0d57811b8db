"""Does a decoder that has seen the prior's mistakes make samples harder to tell from reconstructions?

The two-sample classifier's cue on `--preset generate` samples is local: a skull rim broken over one or two codes,
which no reconstruction shows. A sampled map holds codes the prior drew given only the codes before them, so some
clash with their neighbours, and the decoder never saw such maps. Here the decoder alone (encoder and codebook
frozen, so every code map stays what it was) is fine-tuned on training slices whose code maps have a share `rate`
of positions replaced by a draw from the prior's own conditional at that position (teacher-forced: one forward
pass gives every position's distribution given the true codes before it), with the autoencoder's loss against the
clean slice. Then, side by side in one run, with the original and the tuned decoder:
- test SSIM of the reconstructions (what tuning costs in fidelity);
- the two-sample test at 128 a side, SEEDS seeds, folds keeping subjects whole: samples (the same code maps,
  decoded by each decoder, rounded to 8 bits as `vqmri sample` writes them) against test reconstructions through
  the same decoder; and the new-subjects reference (validation reconstructions) for the tuned decoder.

Usage: python benchmarks/experiments/decoder_tuning.py RUN_DIR OUT.json [MINUTES] [RATE] [SEEDS] [N_SAMPLES] [DECODERS]
       (MINUTES `saved` scores the weights an earlier run kept instead of tuning again; defaults 10 minutes, rate 0.15, seeds 0,1,2,3, 512 samples drawn with seed 0, decoders original,tuned;
       rate 0 is the control: the same extra minutes on clean maps; the tuned decoder's weights
       are kept as RUN_DIR/decoder_tuned_rateRATE.pt, beside the data they came from)"""
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from vqmri import api
from vqmri.codes import cached_codes, position_labels
from vqmri.data.datamodule import discover_from_config, load_cached
from vqmri.evaluation import metrics
from vqmri.evaluation.two_sample import two_sample_test
from vqmri.inference.sampling import sample_codes
from vqmri.runs import load_prior
from vqmri.training.losses import reconstruction_loss

run_dir, out = sys.argv[1], Path(sys.argv[2])
saved = len(sys.argv) > 3 and sys.argv[3] == "saved"
minutes = 0.0 if saved else float(sys.argv[3]) if len(sys.argv) > 3 else 10.0
rate = float(sys.argv[4]) if len(sys.argv) > 4 else 0.15
seeds = [int(s) for s in sys.argv[5].split(",")] if len(sys.argv) > 5 else [0, 1, 2, 3]
n_samples = int(sys.argv[6]) if len(sys.argv) > 6 else 512
which = sys.argv[7].split(",") if len(sys.argv) > 7 else ["original", "tuned"]
torch.manual_seed(0)
model = api.load(run_dir, device="cpu")
prior = load_prior(model.run)
found = discover_from_config(model.config, model.run.root)
train = load_cached(found, "train", model.config)
x_train = torch.from_numpy(np.array(train.images, np.float32))[:, None]
(codes,), positions = cached_codes(model, "train")
labels = position_labels(positions, prior.num_classes) if prior.num_classes else None
res = {"run": run_dir, "minutes": minutes, "rate": rate, "n_train": len(x_train), "n_samples": n_samples}


def corrupt(c: torch.Tensor, lab) -> tuple[torch.Tensor, float]:
    """A share `rate` of positions redrawn from the prior given the true codes before them; also the share changed."""
    with torch.no_grad():
        logits = prior.nets[0](c, prior.condition(0, [c]), lab)
        drawn = torch.distributions.Categorical(logits=logits.permute(0, 2, 3, 1)).sample()
    mask = torch.rand(c.shape) < rate
    new = torch.where(mask, drawn, c)
    return new, float((new != c).float().mean())


# --- fine-tune the decoder on corrupted maps, a time budget, cosine-annealed learning rate
tuned = copy.deepcopy(model.net)
tuned.requires_grad_(False)
tuned.decoder.requires_grad_(True)
t = model.config["train"]
opt = torch.optim.AdamW(tuned.decoder.parameters(), lr=2e-4, betas=(0.9, 0.99))
started, step, changed, losses = time.time(), 0, [], []
budget = minutes * 60
weights = Path(run_dir) / f"decoder_tuned_rate{rate:g}.pt"  # OASIS-derived: stays in the run
if saved:  # the earlier run's tuning figures, where it wrote them to the same OUT.json
    tuned.decoder.load_state_dict(torch.load(weights))
    earlier = json.loads(out.read_text()) if out.exists() else {}
    res.update({k: earlier[k] for k in ("steps", "seconds", "codes_changed", "loss_first_50", "loss_last_50", "tuning")
                if k in earlier})
while (elapsed := time.time() - started) < budget:
    for g in opt.param_groups:
        g["lr"] = 2e-4 * 0.5 * (1 + np.cos(np.pi * elapsed / budget))
    idx = torch.randint(len(x_train), (t["batch_size"],))
    c, share = corrupt(codes[idx], None if labels is None else labels[idx])
    x_hat = tuned.decoder(tuned.quantizer.lookup(c))
    loss = reconstruction_loss(x_hat, x_train[idx], t["loss"], t["ssim_weight"])
    opt.zero_grad()
    loss.backward()
    opt.step()
    step, changed, losses = step + 1, changed + [share], losses + [loss.item()]
    if step % 50 == 0:
        print(f"step {step} loss {np.mean(losses[-50:]):.4f} changed {np.mean(changed[-50:]):.3f}", flush=True)
tuned.eval()
if not saved:
    res.update(steps=step, seconds=round(time.time() - started, 1), codes_changed=float(np.mean(changed)),
               loss_first_50=float(np.mean(losses[:50])), loss_last_50=float(np.mean(losses[-50:])))
    torch.save(tuned.decoder.state_dict(), weights)

# --- the same sampled maps, the same test and validation slices, through each decoder
drawn = sample_codes(prior, n_samples, model.code_shapes(), 0, 1.0, None,
                     label=torch.arange(n_samples) % prior.num_classes if prior.num_classes else None)
test, val = (load_cached(found, s, model.config) for s in ("test", "validate"))
x_test, x_val = (torch.from_numpy(np.array(d.images, np.float32))[:, None] for d in (test, val))
subj_test, subj_val = [m["subject"] for m in test.meta], [m["subject"] for m in val.meta]
decoders = {k: v for k, v in {"original": model.net, "tuned": tuned}.items() if k in which}
res["conditions"] = {}
for name, net in decoders.items():
    with torch.no_grad():
        dec = lambda cs: torch.cat([net.decode([cs[i: i + 64]]) for i in range(0, len(cs), 64)])
        rec_test = dec(torch.cat([net.encode(x_test[i: i + 64])[0] for i in range(0, len(x_test), 64)]))
        rec_val = dec(torch.cat([net.encode(x_val[i: i + 64])[0] for i in range(0, len(x_val), 64)]))
        samples = (dec(drawn[0]) * 255).round() / 255
    row = {"test_ssim": float(metrics.ssim(rec_test, x_test).mean()), "runs": []}
    for seed in seeds:
        g = torch.Generator().manual_seed(1000 + seed)
        pick_s = torch.randperm(len(samples), generator=g)[:128]
        pick_t = torch.randperm(len(rec_test), generator=g)[:128]
        pick_v = torch.randperm(len(rec_val), generator=g)[:128]
        other, other_subj = rec_test[pick_t], [subj_test[i] for i in pick_t.tolist()]
        kinds = [("samples", samples[pick_s], None)]
        if name == "tuned" or seed == seeds[0]:
            kinds.append(("null", rec_val[pick_v], [subj_val[i] for i in pick_v.tolist()]))
        for kind, gen, gen_subj in kinds:
            t0 = time.time()
            r = two_sample_test(gen, other, seed, groups=(gen_subj, other_subj))
            row["runs"].append({"kind": kind, "seed": seed, "acc": float(np.mean(r.folds)), "folds": r.folds,
                                "recall_generated": r.recall_generated, "recall_other": r.recall_other,
                                "seconds": round(time.time() - t0, 1)})
            print(name, json.dumps(row["runs"][-1]), flush=True)
    accs = [r["acc"] for r in row["runs"] if r["kind"] == "samples"]
    row["samples_acc_mean_sd"] = [float(np.mean(accs)), float(np.std(accs))]
    row["samples_recall_generated_mean"] = float(np.mean([r["recall_generated"] for r in row["runs"] if r["kind"] == "samples"]))
    row["samples_recall_other_mean"] = float(np.mean([r["recall_other"] for r in row["runs"] if r["kind"] == "samples"]))
    res["conditions"][name] = row
    out.write_text(json.dumps(res, indent=1))
print(json.dumps({k: (v["test_ssim"], v["samples_acc_mean_sd"]) for k, v in res["conditions"].items()}, indent=1))
