"""The settings of a run, one typed class a section, validated when built (pydantic v2).

pydantic rather than dataclasses with a checker of our own: types, ranges, choices and the rules between sections are
declared beside each setting, and the same classes read and write the plain dicts that travel as YAML and inside
checkpoints (plain values load without unpickling code). A mistake ends in one line naming the setting and what it
accepts (`VqmriError`), never in pydantic's multi-line report."""
from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from ..errors import VqmriError


def _no_bool(v):
    """YAML's `true` is not a number, whatever Python says."""
    if isinstance(v, bool):
        raise ValueError("give a number, not true or false")
    return v


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError("give a finite number")
    return v


def _odd(v: int) -> int:
    if v % 2 == 0:
        raise ValueError("give an odd number (3, 5, 7, ...)")
    return v


def _shares(v: list[float]) -> list[float]:
    if len(v) != 3 or abs(sum(v) - 1) > 1e-6:
        raise ValueError("give three shares for train, validate, test that add up to 1, e.g. [0.8,0.1,0.1]")
    return v


def _devices(v):
    if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1) or (
            isinstance(v, list) and v and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in v)):
        return v
    raise ValueError("give auto, a number of devices, or a list of device indices")


def _as_list(v):
    """One value stands for a one-item list (`prior.refine=2` as `prior.refine=[2]`)."""
    return v if isinstance(v, (list, tuple)) else [v]


Int = Annotated[int, BeforeValidator(_no_bool)]
Float = Annotated[float, BeforeValidator(_no_bool), AfterValidator(_finite)]
Share = Annotated[Float, Field(ge=0, le=1)]
Rate = Annotated[Float, Field(gt=0)]
Minutes = Rate | None


class Section(BaseModel):
    """A config section: unknown keys refused, assignments validated (`cfg.train.max_minutes = 3` is checked)."""
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=False)

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            super().__setattr__(name, value)
        except ValidationError as e:
            raise one_line(e, prefix=self.section) from None

    def __getitem__(self, key: str):
        """Read-only dict access, so that scripts written against the plain-dict config keep working."""
        return getattr(self, key)

    @property
    def section(self) -> str:
        return SECTION_NAMES[type(self).__name__]


class Data(Section):
    path: str | None = None
    image_size: Int = Field(128, ge=16, le=4096)
    axis: Literal["axial", "coronal", "sagittal"] = "axial"
    min_tissue: Share = 0.05  # slices with less foreground than this share are left out
    split_ratios: Annotated[list[Annotated[Float, Field(ge=0)]], AfterValidator(_shares)] = [0.8, 0.1, 0.1]
    split_seed: Int = 0
    skip_bad: bool = False
    num_workers: Int = Field(0, ge=0, le=64)
    augment: bool = False
    zoom: Share = 0.0  # field-of-view augmentation: random zoom up to this share
    gamma: Share = 0.0  # intensity augmentation: random gamma up to this share


class Model(Section):
    arch: Literal["vqvae", "vqvae2"] = "vqvae"
    channels: list[Annotated[Int, Field(ge=1)]] = Field([32, 64], min_length=1)
    res_blocks: Int = Field(2, ge=0, le=16)
    res_channels: Int = Field(32, ge=1)
    downsample: Literal[2, 4, 8, 16] = 4
    embed_dim: Int = Field(64, ge=1)
    codebook_size: Int = Field(512, ge=2, le=65536)
    top_codebook_size: Int | None = Field(None, ge=2, le=65536)  # VQ-VAE-2: the top's own codebook (default: the same)
    norm: bool = False
    bottom_dropout: Share = 0.0  # VQ-VAE-2: share of slices decoded from the top codes alone
    upsample: Literal["transpose", "nearest"] = "transpose"
    top_factor: Literal[2, 4, 8] = 2  # VQ-VAE-2: how many bottom codes a side one top code covers
    bottom: Literal["joint", "residual"] = "joint"  # VQ-VAE-2: what the bottom codes hold (models/vqvae2.py)
    padding: Literal["zeros", "circular"] = "zeros"  # beyond the edge, every conv sees zeros or the image wrapped round


class Quantizer(Section):
    ema: bool = True
    decay: Float = Field(0.99, gt=0, le=1)
    beta: Float = Field(0.25, ge=0)
    init: Literal["kmeans", "random", "uniform", "normal"] = "kmeans"
    dead_code_threshold: Float = Field(1.0, ge=0)
    l2_norm: bool = False


class Train(Section):
    batch_size: Int = Field(32, ge=1)
    lr: Rate = 2e-3
    weight_decay: Float = Field(0.0, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup: Share = 0.03
    max_epochs: Int = Field(30, ge=1)
    max_minutes: Minutes = None
    loss: Literal["mse", "l1", "l1+ssim"] = "l1+ssim"
    ssim_weight: Share = 0.5
    seed: Int = 0
    precision: Literal["auto", "32-true", "32", "16-mixed", "bf16-mixed", "64-true"] = "auto"
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps", "tpu"] = "auto"
    devices: Annotated[Any, AfterValidator(_devices)] = "auto"
    num_nodes: Int = Field(1, ge=1)
    val_every: Rate = 1.0
    grad_clip: Float = Field(1.0, ge=0)
    init: str | None = None  # fine-tune from this model (a run, an export or pretrained:NAME)
    min_batches: Int = Field(0, ge=0, le=100000)


class Prior(Section):
    channels: Int = Field(48, ge=1)
    layers: Int = Field(8, ge=1, le=64)
    kernel_size: Annotated[Int, Field(ge=3, le=31), AfterValidator(_odd)] = 5
    classes: Int = Field(0, ge=0, le=1000)  # slice-position buckets the prior is conditioned on (0: none)
    lr: Rate = 1e-3
    batch_size: Int = Field(32, ge=1)
    max_epochs: Int = Field(30, ge=1)
    max_minutes: Minutes = None
    dropout: Float = Field(0.0, ge=0, le=0.99)
    seed: Int = 0
    mirror: Literal["", "rows", "columns"] = ""
    augment: Int = Field(0, ge=0, le=64)  # jittered copies of each training slice's codes
    augment_degrees: Float = Field(6.0, ge=0, le=45)
    level: Literal["all", "top", "bottom", "each", "gaussian"] = "all"  # gaussian: only the Gaussian top, in seconds
    # maskgit: a masked-code model of dilated convs; maskgit_transformer: the same drawn by a bidirectional transformer
    arch: Literal["pixelcnn", "transformer", "maskgit", "maskgit_transformer"] = "pixelcnn"
    heads: Int = Field(4, ge=1, le=64)
    bottom_arch: Literal["", "pixelcnn", "transformer", "maskgit", "maskgit_transformer"] = ""  # "": as `arch`
    steps: Int = Field(12, ge=1, le=64)  # parallel decoding steps of a masked-code level
    # masked-code levels: share of training maps whose slice-position label is hidden, so that sampling can guide
    # draws towards their label (classifier-free guidance, `vqmri sample --guidance`); needs prior.classes
    label_dropout: Float = Field(0.0, ge=0, lt=1)
    # how masked-code levels draw (`vqmri sample --refine/--refine-share/--guidance` override them for one call):
    # corrector rounds after the parallel steps, each redrawing refine_share of a map, least likely first; and
    # classifier-free guidance towards the slice-position label. One value for every level, or one a level (top first)
    refine: Annotated[list[Annotated[Int, Field(ge=0, le=64)]], BeforeValidator(_as_list),
                      Field(min_length=1, max_length=2)] = [0]
    refine_share: Annotated[Float, Field(gt=0, lt=1)] = 0.25
    # which drawn codes a parallel step keeps: log-probability plus this times Gumbel noise (annealed to 0 over the
    # steps); 0 keeps the most confident, large values a random order (MaskGIT's 4.5)
    choice_temperature: Float = Field(4.5, ge=0, le=1000)
    guidance: Annotated[list[Annotated[Float, Field(ge=0, le=20)]], BeforeValidator(_as_list),
                        Field(min_length=1, max_length=2)] = [0.0]
    top_share: Annotated[Float, Field(gt=0, lt=1)] = 0.33  # level=each: share of the budget for the top
    # two levels: below 1, a sample's bottom starts from its top's own decoding and the prior redraws this share of
    # it, least likely first (inference/guided.py); 1: the whole bottom drawn by the prior
    bottom_redraw: Annotated[Float, Field(gt=0, le=1)] = 1.0
    bottom_choice: Literal["unlikely", "random"] = "unlikely"  # which bottom codes are redrawn (inference/guided.py)
    # two levels: how a sample's top is drawn: by the top network, or by a Gaussian of `top_components` principal
    # components a slice-position class over the training tops' vectors (models/gaussian_top.py; fitted by train-prior)
    top_sampler: Literal["network", "gaussian"] = "network"
    top_components: Int = Field(64, ge=1, le=1024)
    # its draws' deviation from the class mean times this: above 1 makes up for the variance outside the components
    # and the variance lost in snapping each vector to a code
    top_spread: Float = Field(1.0, gt=0, le=10)


class Gan(Section):
    """Adversarial decoder training (VQGAN); weight 0 = off. start: share of the budget before the discriminator
    plays; decoder_only: once the game is on only the decoder learns (codes keep their meaning); crop: the
    discriminator judges random crops of this size (0: whole slices)."""
    weight: Float = Field(0.0, ge=0)
    start: Share = 0.3
    channels: Int = Field(32, ge=1)
    layers: Int = Field(3, ge=1, le=6)
    norm: Literal["spectral", "none", "batch"] = "spectral"
    lr: Rate = 4e-4
    adaptive: bool = True
    decoder_only: bool = False
    crop: Int = Field(0, ge=0, le=4096)


SECTION_NAMES = {"Data": "data", "Model": "model", "Quantizer": "quantizer", "Train": "train", "Prior": "prior",
                 "Gan": "gan"}


def downsampling(model: Model) -> int:
    """How many pixels a side one code of the coarsest level covers (VQ-VAE-2: 4 x `top_factor` for the top, whatever
    `downsample` says)."""
    return 4 * model.top_factor if model.arch == "vqvae2" else model.downsample


def fits_model(image_size: int, model: Model) -> bool:
    """Whether a model with these settings reads slices of `image_size`: a multiple of its downsampling with a code
    map of at least 2 a side."""
    factor = downsampling(model)
    return image_size % factor == 0 and image_size // factor >= 2


class Config(BaseModel):
    """A whole run's settings; `Config.model_validate(plain_dict)` checks every setting and the rules between them,
    `to_dict()` gives the plain dict that YAML files and checkpoints hold."""
    model_config = ConfigDict(extra="forbid")

    preset: str = "oasis"
    data: Data = Field(default_factory=Data)
    model: Model = Field(default_factory=Model)
    quantizer: Quantizer = Field(default_factory=Quantizer)
    train: Train = Field(default_factory=Train)
    prior: Prior = Field(default_factory=Prior)
    gan: Gan = Field(default_factory=Gan)

    @model_validator(mode="after")
    def _sections_agree(self) -> Config:
        d, m, p, g = self.data, self.model, self.prior, self.gan
        factor = downsampling(m)
        if not fits_model(d.image_size, m):
            raise VqmriError(f"data.image_size={d.image_size}: give a multiple of {factor} of at least {2 * factor} "
                             f"(the code map is image_size / {factor} a side), e.g. 64, 128 or 256")
        if {p.arch, p.bottom_arch} & {"transformer", "maskgit_transformer"} and p.channels % p.heads:
            raise VqmriError(f"prior.channels={p.channels}: a transformer prior needs a multiple of prior.heads "
                             f"({p.heads})")
        levels = 2 if m.arch == "vqvae2" else 1
        archs = [p.arch] + [p.bottom_arch or p.arch] * (levels - 1)
        for key, values in (("refine", p.refine), ("guidance", p.guidance)):
            said = f"prior.{key}={values}"
            if len(values) not in (1, levels):
                raise VqmriError(f"{said}: give one value, or one a level ({levels} for model.arch={m.arch})")
            if not any(a.startswith("maskgit") for a in archs) and any(values):
                raise VqmriError(f"{said}: applies to masked-code levels (prior.arch=maskgit); give 0")
            if len(values) > 1 and any(v and not a.startswith("maskgit") for v, a in zip(values, archs)):
                raise VqmriError(f"{said}: a level drawn in raster order takes 0")
        if p.top_sampler == "gaussian" and levels != 2:
            raise VqmriError("prior.top_sampler=gaussian draws the top of a two-level model (model.arch=vqvae2); "
                             "leave prior.top_sampler=network")
        if any(p.guidance) and not (p.label_dropout and p.classes):
            raise VqmriError(f"prior.guidance={p.guidance}: needs a prior that also learns without its label "
                             "(prior.label_dropout above 0, prior.classes above 0)")
        smallest = 3 * 2 ** g.layers  # the discriminator's strided convs leave at least one patch logit
        if g.weight > 0 and min(g.crop or d.image_size, d.image_size) < smallest:
            raise VqmriError(f"gan.crop={g.crop} at data.image_size={d.image_size}: a {g.layers}-layer "
                             f"discriminator needs at least {smallest} px; give gan.crop=0 (whole slices), a larger "
                             "crop, or fewer gan.layers")
        return self

    def __getitem__(self, key: str):
        """Read-only dict access (`cfg["data"]["path"]`), for scripts written against the plain-dict config."""
        return getattr(self, key)

    def to_dict(self) -> dict:
        return self.model_dump(mode="python")

    @classmethod
    def sections(cls) -> dict[str, type[Section]]:
        return {name: f.annotation for name, f in cls.model_fields.items() if name != "preset"}


def one_line(e: ValidationError, prefix: str = "") -> VqmriError:
    """pydantic's report of the first bad setting as one line: `section.key=value: what it accepts`."""
    err = e.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"] if not isinstance(p, int)]
    key = ".".join(([prefix] if prefix else []) + loc[:2 - bool(prefix)])
    msg = err["msg"].removeprefix("Value error, ")
    for said, says in (("Input should be greater", "give a number greater"), ("Input should be less", "give a number "
                       "less"), ("Input should be", "give")):
        msg = msg.replace(said, says)
    if err["type"] in ("extra_forbidden", "no_such_attribute"):
        msg = "unknown setting"
    return VqmriError(f"{key}={err['input']!r}: {msg}")
