"""The train / export / generate commands: registration, help, and one-line user errors (exit 2)."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from refinedweb.trainer.cli import main, register

from .conftest import REPO, TINY_YAML


def test_register_adds_the_three_commands_with_help():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    register(sub)
    assert {"train", "export", "generate"} <= set(sub.choices)
    args = parser.parse_args(["train", "c.yaml", "--data", "tok", "--out", "runs/x", "--max-steps", "5", "--resume"])
    assert (args.max_steps, args.resume, callable(args.func)) == (5, True, True)
    for name in ("train", "export", "generate"):
        assert sub.choices[name].format_help()


def test_importing_the_cli_does_not_import_torch():
    code = "import sys, refinedweb.trainer.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("argv, message", [
    (["train", str(TINY_YAML), "--out", "{tmp}/run", "--data", "{tmp}/missing"], "manifest.json: not found"),
    (["train", "{tmp}/missing.yaml", "--out", "{tmp}/run"], "config file not found"),
    (["export", "{tmp}", "{tmp}/hf"], "a training run folder?"),
    (["generate", "{tmp}", "--prompt", "hi"], "neither a training run folder"),
])
def test_user_errors_print_one_line_and_exit_2(tmp_path, capsys, argv, message):
    code = main([a.replace("{tmp}", str(tmp_path)) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1


def test_train_export_generate_through_the_cli(tmp_path, token_dir, capsys):
    from refinedweb.config import to_dict
    import yaml

    from .conftest import small_run

    config = tmp_path / "small.yaml"
    config.write_text(yaml.safe_dump(to_dict(small_run(train={"max_steps": 2, "eval_every": 2, "eval_batches": 1}))))
    assert main(["train", str(config), "--data", str(token_dir), "--out", str(tmp_path / "run")]) == 0
    assert "step 2: loss" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "hf"), "--dtype", "bfloat16"]) == 0
    assert (tmp_path / "hf" / "model.safetensors").is_file()
    assert main(["generate", str(tmp_path / "run"), "--prompt", "The", "--max-new-tokens", "3"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("The")
