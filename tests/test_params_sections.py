"""Each stage loads and validates only its own sections of params.yaml; the rules that tie params.yaml to
the registries are `replication params --check` (replication.params_check)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from replication.cli import main
from replication.errors import UsageError
from replication.evaluate.settings import load_eval_params
from replication.params import load_params
from replication.params_check import check_params
from replication.strict import ParamsError
from replication.train.settings import load_train_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def raw():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_check_passes_on_the_committed_file(capsys):
    assert main(["params", "--params", str(ROOT / "params.yaml"), "--check"]) == 0
    assert "valid" in capsys.readouterr().out
    check_params(load_params(ROOT / "params.yaml"))


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (
            ("data", "train_sets"),
            ["div2k-train-hr", "flickr2k", "nope"],
            r"profiles\.paper\.data\.train_sets\[2\]: unknown dataset 'nope'",
        ),
        (("validation", "dataset"), "nope", r"profiles\.paper\.validation\.dataset: unknown dataset 'nope'"),
        (("evaluate", "test_sets"), ["nope"], r"profiles\.paper\.evaluate\.test_sets\[0\]: unknown dataset 'nope'"),
        (("evaluate", "metrics"), ["niqe", "nqie"], r"profiles\.paper\.evaluate\.metrics\[1\]: unknown metric 'nqie'"),
        (("validation", "metrics"), ["psrn"], r"profiles\.paper\.validation\.metrics\[0\]: unknown metric 'psrn'"),
        (
            ("evaluate", "baselines"),
            ["bicubic", "nope"],
            r"profiles\.paper\.evaluate\.baselines\[1\]: 'nope' is neither",
        ),
        (("network", "net_init"), "dan", r"profiles\.paper\.network\.net_init: 'dan' is neither 'scratch' nor rrdbnet"),
    ],
)
def test_check_names_the_key_of_an_unknown_name(tmp_path, raw, capsys, where, value, message):
    section, key = where
    raw["profiles"]["paper"][section][key] = value  # the paper profile: not the active one, still checked
    path = _write(tmp_path, raw)
    params = load_params(path)  # each part's own rules pass: registry names are not theirs to check
    with pytest.raises(ParamsError, match=message):
        check_params(params)
    assert main(["params", "--params", str(path), "--check"]) == 1
    assert str(path) in capsys.readouterr().err


def test_switch_runs_the_check_before_writing(tmp_path, raw):
    raw["profiles"]["study"]["evaluate"]["metrics"] = ["nqie"]
    path = _write(tmp_path, raw)
    text = path.read_text()
    assert main(["params", "--params", str(path), "--switch", "study"]) == 1
    assert path.read_text() == text  # nothing written


def _break_the_rest(raw: dict) -> dict:
    """Everything a training phase does not read made invalid: evaluation, report, data, validation,
    the seeds list, another variant, another profile and the pipeline lists."""
    raw = copy.deepcopy(raw)
    smoke = raw["profiles"]["smoke"]
    smoke["evaluate"]["metrics"] = "not a list"
    smoke["report"]["unknown_key"] = 1
    smoke["data"] = None
    smoke["validation"]["count"] = -1
    smoke["seeds"] = "junk"
    smoke["description"] = 3
    raw["variants"]["vgg_disc"]["spectral_norm"] = "yes"
    raw["profiles"]["paper"]["train_net"]["lr"] = "2e-4"
    raw["pipeline"] = {"stale": True}
    return raw


def test_training_loads_only_its_sections(tmp_path, raw):
    path = _write(tmp_path, _break_the_rest(raw))
    with pytest.raises(ParamsError):
        load_params(path)  # the whole file is broken...
    gan = load_train_params(path, None, "full", "gan", seed=7)  # ...but not what training reads
    assert (gan.profile, gan.seed, gan.active.seed) == ("smoke", 7, raw["profiles"]["smoke"]["seed"])
    assert gan.active.phase.iters == raw["profiles"]["smoke"]["train_gan"]["iters"]
    net = load_train_params(path, None, "full", "net", seed=0)
    assert net.active.phase.iters == raw["profiles"]["smoke"]["train_net"]["iters"]
    with pytest.raises(RuntimeError, match="GAN phase only"):
        _ = net.active.seed  # the Real-ESRNet phase does not read profiles.<p>.seed
    with pytest.raises(ParamsError, match=r"profiles\.smoke\.seeds: expected a list"):
        load_train_params(path, None, "full", "net", seed=None)  # no --seed: the seeds list is read


def test_training_errors_name_the_key_path(tmp_path, raw):
    bad = copy.deepcopy(raw)
    bad["profiles"]["smoke"]["train_gan"]["lr"] = "1e-4"
    path = _write(tmp_path, bad)
    with pytest.raises(ParamsError, match=r"params\.yaml: profiles\.smoke\.train_gan\.lr: expected float, got str"):
        load_train_params(path, None, "full", "gan", seed=0)
    load_train_params(path, None, "full", "net", seed=0)  # the net phase does not read train_gan
    bad = copy.deepcopy(raw)
    bad["profiles"]["smoke"]["degradation"]["pool_size"] = 7
    with pytest.raises(ParamsError, match=r"profiles\.smoke: degradation\.pool_size 7 must be divisible by train_net"):
        load_train_params(_write(tmp_path, bad), None, "full", "net", seed=0)
    with pytest.raises(UsageError, match=r"--variant nope: unknown variant"):  # a flag value: exit status 2
        load_train_params(_write(tmp_path, raw), None, "nope", "net", seed=0)
    with pytest.raises(UsageError, match=r"--profile 'huge': unknown profile"):  # a flag value, too
        load_train_params(_write(tmp_path, raw), "huge", "full", "net", seed=0)
    assert (
        load_train_params(_write(tmp_path, raw), None, "full", "net", seed=None).seed
        == raw["profiles"]["smoke"]["seeds"][0]
    )


def test_evaluation_loads_only_its_sections(tmp_path, raw):
    broken = _break_the_rest(raw)
    broken["profiles"]["smoke"]["evaluate"] = raw["profiles"]["smoke"]["evaluate"]  # evaluation's own: valid
    broken["profiles"]["smoke"]["validation"] = raw["profiles"]["smoke"]["validation"]
    broken["profiles"]["smoke"]["train_net"]["lr"] = "2e-4"
    params = load_eval_params(_write(tmp_path, broken))
    assert params.active.evaluate.metrics == tuple(raw["profiles"]["smoke"]["evaluate"]["metrics"])
    assert set(params.profiles) == set(yaml.safe_load((ROOT / "params.yaml").read_text())["profiles"])
    broken["profiles"]["smoke"]["evaluate"]["tile"] = -1
    with pytest.raises(ParamsError, match=r"profiles\.smoke\.evaluate: tile must be >= 0"):
        load_eval_params(_write(tmp_path, broken))
    broken["profiles"]["smoke"]["evaluate"]["tile"] = 0
    broken["profiles"]["smoke"]["validation"]["metrics"] = ["psnr", "ssmi"]  # its own registry: checked here
    with pytest.raises(ParamsError, match=r"profiles\.smoke\.validation\.metrics\[1\]: unknown metric 'ssmi'"):
        load_eval_params(_write(tmp_path, broken))


def test_unknown_top_level_key_and_missing_profile_section(tmp_path, raw):
    bad = {**copy.deepcopy(raw), "profiels": {}}
    with pytest.raises(ParamsError, match=r"params\.yaml: profiels: unknown key"):
        load_train_params(_write(tmp_path, bad), None, "full", "net", seed=0)
    bad = copy.deepcopy(raw)
    del bad["profiles"]["smoke"]["network"]
    with pytest.raises(ParamsError, match=r"profiles\.smoke\.network: missing key"):
        load_train_params(_write(tmp_path, bad), None, "full", "net", seed=0)
