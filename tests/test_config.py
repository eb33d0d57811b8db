"""The typed config: every preset builds, old saved configs still open, and the rules between sections hold
wherever a config comes from (the bad values of each single setting are generated in test_bad_input.py)."""
from pathlib import Path

import pytest
import yaml

from vqmri import config
from vqmri.config import PRESETS, Config
from vqmri.errors import VqmriError

OLD = Path(__file__).parent / "data" / "config_2026-11-22.yaml"


def test_a_config_saved_by_an_old_version_opens_with_todays_defaults(tmp_path):
    old = yaml.safe_load(OLD.read_text())
    cfg = config.load(OLD)
    assert isinstance(cfg, Config) and "gan" not in old and "scan" in old["prior"]
    assert cfg.gan == Config().gan and cfg.prior.bottom_arch == "" and cfg.model.top_factor == 2
    assert cfg.data.image_size == old["data"]["image_size"] and cfg.prior.layers == old["prior"]["layers"]
    # written back, it is today's format, and reads back the same
    config.save(cfg, tmp_path / "c.yaml")
    assert config.load(tmp_path / "c.yaml") == cfg and "scan" not in (tmp_path / "c.yaml").read_text()


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_round_trips_through_yaml_and_checkpoint_dicts(tmp_path, name):
    cfg = config.resolve(name)
    assert cfg.preset == name
    config.save(cfg, tmp_path / "c.yaml")
    assert config.load(tmp_path / "c.yaml") == cfg == config.from_dict(cfg.to_dict())
    for section, values in PRESETS[name].items():  # the preset's settings are the config's
        for key, value in values.items():
            assert getattr(getattr(cfg, section), key) == value, f"{name}: {section}.{key}"


@pytest.mark.parametrize("changes, expect", [
    ({"data": {"image_size": 102}}, "data.image_size=102"),
    ({"model": {"arch": "vqvae2", "top_factor": 8}, "data": {"image_size": 32}}, "multiple of 32"),
    ({"prior": {"arch": "transformer", "channels": 30, "heads": 4}}, "prior.channels=30"),
    ({"gan": {"weight": 0.1, "layers": 5, "crop": 64}}, "gan.crop=64"),
])
def test_rules_between_sections_are_checked_when_a_config_is_built(changes, expect):
    with pytest.raises(VqmriError, match=expect.replace(".", r"\.")):
        config.validate(config.resolve("oasis"), **changes)
    with pytest.raises(VqmriError, match=expect.replace(".", r"\.")):  # a dict from a file or checkpoint too
        config.from_dict(config.merge(Config().to_dict(), changes))


def test_assignment_is_checked_and_errors_are_one_line():
    cfg = config.resolve("oasis")
    cfg.train.max_minutes = 3
    assert cfg.train.max_minutes == 3.0
    for key, value, expect in [("max_minutes", -1, "train.max_minutes=-1"), ("schedule", "linear", "'cosine'"),
                               ("max_epochs", True, "not true or false")]:
        with pytest.raises(VqmriError) as e:
            setattr(cfg.train, key, value)
        assert expect in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(VqmriError, match="unknown setting"):
        cfg.train.nonsense = 1
    assert cfg["train"]["max_minutes"] == 3.0  # scripts written against the plain-dict config still read it
