"""`--set SECTION.KEY=VALUE` overrides: a key the model config does not have is refused with the valid keys."""
from __future__ import annotations

import pytest

from vml_demo.cli import main
from vml_demo.model.factory import load_config, unknown_keys


def test_unknown_keys_name_the_valid_ones():
    base = load_config("viml_default")
    assert unknown_keys(base, {"model.fusion": "mlp", "train": {"lr": 0.1}}) == []
    [(key, valid)] = unknown_keys(base, {"model.fusio": "mlp"})
    assert key == "model.fusio" and "model.fusion" in valid
    [(key, valid)] = unknown_keys(base, {"modle": {"fusion": "mlp"}})
    assert key == "modle" and {"model", "train", "features"} <= set(valid)
    assert unknown_keys(base, {"train": {"lrr": 1}})[0][0] == "train.lrr"


@pytest.mark.parametrize("argv, key", [
    (["train", "viml", "--videos", ".", "--out", "unused", "--set", "model.fusio=mlp"], "model.fusio"),
    (["train", "music-text", "--set", "train.lrr=1"], "train.lrr"),
    (["train", "music-text", "--set", "nodots=1"], "SECTION.KEY"),
])
def test_cli_refuses_a_typo_before_training(argv, key, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert key in err and "\n" not in err and "Traceback" not in err
