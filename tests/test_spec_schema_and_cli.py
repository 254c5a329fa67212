"""`udroll schema` and `udroll validate`: the editor schema accepts the bundled plans; exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import click
import jsonschema
import pytest
from click.testing import CliRunner

from executor.cli.main import cli
from planner.source import load_text

PLANS = sorted(Path("plans").glob("*.yaml"))


def schema() -> dict:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    """The printed schema is itself valid JSON Schema 2020-12 and describes the top-level keys."""
    document = schema()
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"version", "name", "tiers", "window", "defaults", "limits", "inventory"} <= set(
        document["properties"]
    )


@pytest.mark.parametrize("path", PLANS, ids=[p.stem for p in PLANS])
def test_schema_accepts_every_bundled_plan(path: Path) -> None:
    """An editor using the schema shows no error on the bundled examples."""
    data = load_text(path.read_text(), str(path)).data
    jsonschema.Draft202012Validator(schema()).validate(data)


def test_schema_rejects_an_unknown_key_and_a_bare_number_duration() -> None:
    """The schema catches the mistakes an editor should underline."""
    validator = jsonschema.Draft202012Validator(schema())
    data = load_text(PLANS[0].read_text(), "x").data
    assert not validator.is_valid({**data, "tierz": []})
    assert not validator.is_valid({**data, "defaults": {"recovery_gap": 45}})


@pytest.mark.parametrize("path", PLANS, ids=[p.stem for p in PLANS])
def test_every_bundled_plan_validates(path: Path) -> None:
    """`udroll validate` accepts each file in plans/ and exits 0."""
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}: ok" in result.output


def test_validate_lists_every_problem_of_every_file_and_exits_2(tmp_path: Path) -> None:
    """Two broken files give all their problems, with file:line:col, and exit code 2."""
    (tmp_path / "a.yaml").write_text("version: 1\nname: a\ntiers: []\nextra: 1\n")
    (tmp_path / "b.yaml").write_text("version: 1\nname: b\ntiers:\n  - {name: x, select: {}}\n")
    from executor.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["validate", str(tmp_path / "a.yaml"), str(tmp_path / "b.yaml"), str(PLANS[0])])
    assert exit_info.value.code == 2


def test_the_boundary_prints_located_problems_without_a_traceback(tmp_path: Path, capsys) -> None:
    """Bad input is an `Error:` with the problems, never a Python traceback."""
    from executor.cli.main import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: a\ntiers:\n  - {name: x, select: {}}\nnope: 1\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", str(bad)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.startswith("Error: 2 problems found:")
    assert f"{bad}:4:23: tiers[0].select: empty selector" in err
    assert f"{bad}:5:1: unknown key 'nope'" in err
    assert "Traceback" not in err


def test_a_bug_exits_1_and_says_where_the_traceback_is(monkeypatch, capsys) -> None:
    """An unexpected exception is reported as a bug with the file holding its traceback."""
    from executor.cli import main as cli_module

    def explode(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("planner.load.load_spec", explode)  # validate imports it when it runs
    with pytest.raises(SystemExit) as exit_info:
        cli_module.main(["validate", str(PLANS[0])])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert "udroll hit a bug" in err
    path = err.split("The traceback is in ")[1].split(";")[0]
    assert "RuntimeError: boom" in Path(path).read_text()
    Path(path).unlink()


def test_version_and_help_work_on_every_command() -> None:
    """--version prints the version; every command's --help shows an example."""
    runner = CliRunner()
    assert "udroll, version" in runner.invoke(cli, ["--version"]).output
    for name in cli.list_commands(click.Context(cli)):
        command = cli.get_command(click.Context(cli), name)
        if hasattr(command, "commands"):  # a group: check its subcommands
            for sub in command.commands:
                result = runner.invoke(cli, [name, sub, "--help"])
                assert result.exit_code == 0 and "Example" in result.output, (name, sub)
            continue
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Example" in result.output, f"udroll {name} --help has no example"


def test_usage_errors_exit_2() -> None:
    """A missing argument is a usage error with exit code 2."""
    from executor.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["validate"])
    assert exit_info.value.code == 2


def test_a_missing_spec_says_so_without_a_fake_position(tmp_path: Path, capsys) -> None:
    """A spec that does not exist is named, with no made-up line:col, and exits 2."""
    from executor.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["validate", str(tmp_path / "nope.yaml")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert f"{tmp_path / 'nope.yaml'}: spec not found: check the path" in err


def test_a_spec_given_as_faults_file_is_one_clear_problem(tmp_path: Path) -> None:
    """--faults with a rollout spec says what the file is instead of listing unknown keys."""
    from executor.emulator.faults import load_faults
    from planner.errors import SpecError

    with pytest.raises(SpecError) as info:
        load_faults(PLANS[0])
    assert len(info.value.problems) == 1
    assert "this is a rollout spec, not a faults file" in info.value.problems[0].message
