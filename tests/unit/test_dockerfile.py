"""The Dockerfile cannot be built here (no container engine), so check that it agrees with the package and deploy/.

What would break an image build or a rollout without anyone noticing: a COPY of a file that does not exist or is
excluded by .dockerignore, a build input pyproject.toml needs but the image lacks, an entry point that is not the
console script, ports or user ids that differ from the Deployment's.
"""
from __future__ import annotations

import importlib
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOYMENT = ROOT / "deploy" / "base" / "deployment.yaml"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str
    stage: int  # index of the FROM this instruction belongs to


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with line continuations joined and comments dropped (the subset of syntax we use)."""
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        line, pending = pending + line, ""
        keyword, _, value = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, value.strip(), stage))
    return instructions


def exec_form(value: str) -> list[str]:
    """JSON exec form (``["a", "b"]``) or shell form, as the argv Docker would use."""
    import json

    value = value.strip()
    return list(json.loads(value)) if value.startswith("[") else shlex.split(value)


def copy_sources(instruction: Instruction) -> list[str]:
    """Sources of a COPY from the build context (COPY --from=<stage> reads another stage, not the context)."""
    parts = shlex.split(instruction.value)
    flags = [p for p in parts if p.startswith("--")]
    if any(f.startswith("--from=") for f in flags):
        return []
    paths = [p for p in parts if not p.startswith("--")]
    return paths[:-1]


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore glob: ``**`` spans directories, ``*`` and ``?`` stay within one path segment."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                out += "/?"  # "**/x" also matches "x" at the top level
                i += 1
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def excluded_by_dockerignore(path: str, lines: list[str]) -> bool:
    """Docker semantics: the last pattern matching the path or one of its parent directories decides."""
    candidates = [path]
    parts = path.split("/")
    candidates += ["/".join(parts[:n]) for n in range(1, len(parts))]
    excluded = False
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        pattern = pattern.strip("/")
        regex = _ignore_regex(pattern)
        if any(regex.match(c) for c in candidates):
            excluded = not negate
    return excluded


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


@pytest.fixture(scope="module")
def container() -> dict:
    deployment = yaml.safe_load(DEPLOYMENT.read_text())
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def test_multi_stage_on_a_slim_python_base(instructions: list[Instruction], pyproject: dict) -> None:
    froms = [i for i in instructions if i.keyword == "FROM"]
    assert len(froms) >= 2, "a build stage and a runtime stage"
    args = {
        k: v
        for i in instructions
        if i.keyword == "ARG" and "=" in i.value
        for k, v in [i.value.split("=", 1)]
    }
    for instruction in froms:
        image = instruction.value.split()[0].replace("${PYTHON_VERSION}", args.get("PYTHON_VERSION", "?"))
        assert re.fullmatch(r"python:3\.\d+-slim(-\w+)?", image), image
        version = tuple(int(x) for x in image.split(":")[1].split("-")[0].split("."))
        minimum = tuple(int(x) for x in pyproject["project"]["requires-python"].lstrip(">=").split("."))
        assert version >= minimum, f"{image} is older than requires-python"


def test_copied_files_exist_and_are_not_dockerignored(instructions: list[Instruction]) -> None:
    ignore = DOCKERIGNORE.read_text().splitlines()
    sources = [s for i in instructions if i.keyword in ("COPY", "ADD") for s in copy_sources(i)]
    assert sources, "the build stage copies the package"
    for source in sources:
        path = ROOT / source
        assert path.exists(), f"Dockerfile copies {source}, which does not exist in the repository"
        files = [path] if path.is_file() else [p for p in path.rglob("*.py")]
        for file in files:
            rel = file.relative_to(ROOT).as_posix()
            assert not excluded_by_dockerignore(rel, ignore), f"{rel} is copied but excluded by .dockerignore"


def test_dockerignore_keeps_local_state_out() -> None:
    ignore = DOCKERIGNORE.read_text().splitlines()
    for path in (".venv/bin/python", ".git/config", "tests/unit/test_dockerfile.py", "injector/__pycache__/x.pyc"):
        assert excluded_by_dockerignore(path, ignore), path


def test_image_contains_every_build_input_of_pyproject(instructions: list[Instruction], pyproject: dict) -> None:
    """pip install . in the image needs the readme, the packages and their package data."""
    copied = {Path(s).as_posix().rstrip("/") for i in instructions if i.keyword == "COPY" for s in copy_sources(i)}
    needed = {"pyproject.toml"}
    readme = pyproject["project"].get("readme")
    if isinstance(readme, str):
        needed.add(readme)
    for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]:
        needed.add(pattern.rstrip("*").rstrip("."))
    assert needed <= copied, f"not copied into the build stage: {sorted(needed - copied)}"


def test_entrypoint_is_the_console_script(final_stage: list[Instruction], pyproject: dict) -> None:
    (entrypoint,) = [i for i in final_stage if i.keyword == "ENTRYPOINT"]
    argv = exec_form(entrypoint.value)
    assert entrypoint.value.lstrip().startswith("["), "exec form, so the server is PID 1 and receives SIGTERM"
    assert argv == ["injector"]
    target = pyproject["project"]["scripts"]["injector"]
    module_name, _, attr = target.partition(":")
    assert callable(getattr(importlib.import_module(module_name), attr))


def test_runs_as_the_non_root_user_the_deployment_expects(final_stage: list[Instruction], container: dict) -> None:
    users = [i for i in final_stage if i.keyword == "USER"]
    assert users, "the runtime stage must switch away from root"
    uid, _, gid = users[-1].value.partition(":")
    assert uid.isdigit() and int(uid) != 0, "numeric uid, so kubelet can enforce runAsNonRoot"
    position = final_stage.index(users[-1])
    assert all(final_stage.index(i) > position for i in final_stage if i.keyword in ("ENTRYPOINT", "CMD"))
    pod_security = yaml.safe_load(DEPLOYMENT.read_text())["spec"]["template"]["spec"]["securityContext"]
    assert pod_security["runAsUser"] == int(uid)
    if gid:
        assert pod_security["runAsGroup"] == int(gid)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = " ".join(i.value for i in final_stage if i.keyword == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "a read-only root filesystem cannot take .pyc files"


def test_exposed_ports_match_command_and_deployment(final_stage: list[Instruction], container: dict) -> None:
    exposed = {int(p.split("/")[0]) for i in final_stage if i.keyword == "EXPOSE" for p in i.value.split()}
    (cmd,) = [i for i in final_stage if i.keyword == "CMD"]
    argv = exec_form(cmd.value)
    flags = dict(a.split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    assert {int(flags["--port"]), int(flags["--monitoring-port"])} == exposed
    assert {p["containerPort"] for p in container["ports"]} == exposed
    deployment_flags = dict(a.split("=", 1) for a in container["args"] if "=" in a)
    assert deployment_flags["--port"] == flags["--port"]
    assert deployment_flags["--monitoring-port"] == flags["--monitoring-port"]


def test_default_command_parses_with_the_real_cli(final_stage: list[Instruction]) -> None:
    """Catches flag renames; skipped until every subcommand module exists (the CLI imports them all)."""
    try:
        from injector.cli import build_parser

        parser = build_parser()
    except ImportError as exc:
        pytest.skip(f"injector CLI not complete yet: {exc}")
    (cmd,) = [i for i in final_stage if i.keyword == "CMD"]
    parser.parse_args(exec_form(cmd.value))
    container = yaml.safe_load(DEPLOYMENT.read_text())["spec"]["template"]["spec"]["containers"][0]
    parser.parse_args(container["args"])


def test_parser_handles_continuations_and_stages() -> None:
    parsed = parse_dockerfile("FROM a AS b\n# c\nRUN x \\\n  # inner comment\n  && y\nFROM c\nCOPY --from=b /o /o\n")
    assert [(i.keyword, i.stage) for i in parsed] == [("FROM", 0), ("RUN", 0), ("FROM", 1), ("COPY", 1)]
    assert parsed[1].value == "x && y"
    assert copy_sources(parsed[3]) == []
