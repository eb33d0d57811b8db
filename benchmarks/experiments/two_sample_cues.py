"""Which cue does the two-sample classifier use? accuracy at several blurs / crops, and a montage."""
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, "/work/main/src")
from vqmri import api
from vqmri.data.datamodule import discover_from_config, load_cached
from vqmri.evaluation.figures import montage
from vqmri.evaluation.two_sample import two_sample_accuracy

run, sd = sys.argv[1], sys.argv[2]
model = api.load(run)
files = sorted(Path(sd).glob("sample_*.png"))
s = torch.from_numpy(np.stack([np.asarray(Image.open(f).convert("L"), np.float32) / 255 for f in files]))[:, None]
own = discover_from_config(model.config, model.run.root)
test = torch.from_numpy(np.array(load_cached(own, "test", model.config).images, np.float32))[:, None]
rec = model.reconstruct(test)
torch.save({"s": s, "rec": rec, "test": test}, "/tmp/diag4/tensors.pt")
out = {}
for seed in (0, 1, 2):
    out[f"full_s{seed}"] = two_sample_accuracy(s, rec, seed)
for f in (2, 4, 8):
    down = lambda x: F.interpolate(F.avg_pool2d(x, f), scale_factor=f, mode="nearest")
    out[f"pool{f}"] = np.mean([two_sample_accuracy(down(s), down(rec), seed) for seed in (0, 1, 2)])
# local texture only: random 32x32 crops from the brain centre, shuffled positions
def crops(x, g):
    i = torch.randint(32, 64, (len(x),), generator=g); j = torch.randint(32, 64, (len(x),), generator=g)
    return torch.stack([x[k, :, i[k]:i[k]+32, j[k]:j[k]+32] for k in range(len(x))])
g = torch.Generator().manual_seed(0)
out["crop32"] = np.mean([two_sample_accuracy(crops(s, g), crops(rec, g), seed) for seed in (0, 1, 2)])
# global only: sort-free statistics
print(json.dumps(out))
print("mean intensity in brain s/rec", float(s[s > 0.05].mean()), float(rec[rec > 0.05].mean()))
print("fraction >0.05 s/rec", float((s > 0.05).float().mean()), float((rec > 0.05).float().mean()))
gx = lambda x: (x[..., 1:, :] - x[..., :-1, :]).abs().mean()
print("grad energy s/rec/test", float(gx(s)), float(gx(rec)), float(gx(test)))
montage([*s[:16, 0].numpy(), *rec[:16, 0].numpy()], Path("/tmp/diag4/s_vs_rec.png"), ncols=8)
