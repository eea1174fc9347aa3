"""Packaging checks: the Dockerfile's structure, the Docker build context and the built wheel.

No Docker engine is needed: the Dockerfile is read line by line, and the wheel is built with
pip from a copy of the files that the Dockerfile copies into its builder stage.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
DOCKERFILE = REPOSITORY / "Dockerfile"
DOCKERIGNORE = REPOSITORY / ".dockerignore"
SHIPPED_RULES = REPOSITORY / "stream" / "rules" / "shipped"
# What the builder stage copies from the build context.
BUILD_CONTEXT_FILES = ("pyproject.toml", "README.md", "stream")

BASE_IMAGE = "python:3.11-slim"
METRICS_PORT = "9464"
RULES_FOLDER = "/etc/eql-stream/rules"

_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass
class Stage:
    """One build stage: its FROM arguments and its instructions as (keyword, arguments) pairs."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)
    build_arguments: dict[str, str] = field(default_factory=dict)

    def arguments_of(self, keyword: str) -> list[str]:
        """Return the arguments of every ``keyword`` instruction, in file order."""
        return [arguments for name, arguments in self.instructions if name == keyword]

    def last_arguments_of(self, keyword: str) -> str | None:
        """Return the arguments of the last ``keyword`` instruction, the one that counts for CMD, USER and the like."""
        found = self.arguments_of(keyword)
        return found[-1] if found else None

    def expand(self, text: str) -> str:
        """Replace ``${NAME}`` and ``$NAME`` by the stage's ARG defaults, leaving unknown names."""
        return _VARIABLE.sub(lambda match: self.build_arguments.get(match[1] or match[2], match[0]), text)


def _logical_lines(text: str) -> list[str]:
    """Join backslash continuations and drop comments and blank lines, as Docker's parser does."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    if pending:
        lines.append(pending.strip())
    return lines


def parse_dockerfile(text: str) -> list[Stage]:
    """Split a Dockerfile into stages. ARGs before the first FROM apply to every FROM line."""
    global_arguments: dict[str, str] = {}
    stages: list[Stage] = []
    for line in _logical_lines(text):
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        arguments = arguments.strip()

        if keyword == "FROM":
            words = arguments.split()
            base = _VARIABLE.sub(lambda match: global_arguments.get(match[1] or match[2], match[0]), words[0])
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, name))
            continue

        if keyword == "ARG":
            argument_name, _, default = arguments.partition("=")
            target = stages[-1].build_arguments if stages else global_arguments
            target[argument_name] = default
        if stages:
            stages[-1].instructions.append((keyword, arguments))
    return stages


def parse_env(arguments: str) -> dict[str, str]:
    """Return the KEY=VALUE pairs of one ENV instruction."""
    pairs = {}
    for word in shlex.split(arguments):
        key, _, value = word.partition("=")
        pairs[key] = value
    return pairs


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Return whether ``path`` is left out of the build context by .dockerignore ``patterns``.

    The last matching pattern wins, and a ``!`` pattern includes again. A pattern that
    matches a folder also matches everything in it, and a leading ``**/`` matches at any
    depth. This covers the patterns used here, not every rule of Docker's matcher.
    """
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _pattern_matches(pattern.removeprefix("!"), path):
            ignored = not negated
    return ignored


def _pattern_matches(pattern: str, path: str) -> bool:
    parts = path.split("/")
    if pattern.startswith("**/"):
        pattern = pattern.removeprefix("**/")
        candidates = ["/".join(parts[start:end]) for start in range(len(parts)) for end in range(start + 1, len(parts) + 1)]
    else:
        candidates = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    return any(fnmatch.fnmatchcase(candidate, pattern) for candidate in candidates)


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final_stage(stages: list[Stage]) -> Stage:
    return stages[-1]


def test_dockerfile_is_multi_stage(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    assert stages[0].name == "builder"


@pytest.mark.parametrize("index", [0, -1], ids=["builder", "final"])
def test_dockerfile_stage_base_image(stages: list[Stage], index: int) -> None:
    assert stages[index].base == BASE_IMAGE


def test_dockerfile_final_stage_copies_builder_venv(final_stage: Stage) -> None:
    copies = final_stage.arguments_of("COPY")
    assert any(arguments.startswith("--from=builder /opt/eql-stream ") for arguments in copies), copies
    assert all(arguments.startswith("--from=") for arguments in copies), (
        f"the final stage copies files from the build context: {copies}; copy them in the builder stage"
    )


def test_dockerfile_final_stage_user_not_root(final_stage: Stage) -> None:
    user = final_stage.last_arguments_of("USER")
    assert user is not None, "the final stage has no USER instruction"
    account = final_stage.expand(user).partition(":")[0]
    assert account not in {"", "root", "0"}


def test_dockerfile_entrypoint_and_command(final_stage: Stage) -> None:
    entrypoint = final_stage.last_arguments_of("ENTRYPOINT")
    command = final_stage.last_arguments_of("CMD")
    assert entrypoint is not None
    assert command is not None
    assert json.loads(entrypoint) == ["eql-stream"]
    assert json.loads(command) == ["run"]


def test_dockerfile_exposes_metrics_port(final_stage: Stage) -> None:
    exposed = [port for arguments in final_stage.arguments_of("EXPOSE") for port in arguments.split()]
    assert METRICS_PORT in exposed


def test_dockerfile_healthcheck_probes_liveness(final_stage: Stage) -> None:
    healthcheck = final_stage.last_arguments_of("HEALTHCHECK")
    assert healthcheck is not None, "the final stage has no HEALTHCHECK"
    assert f"http://127.0.0.1:{METRICS_PORT}/healthz" in healthcheck
    assert "urllib" in healthcheck


def test_dockerfile_environment_defaults(final_stage: Stage) -> None:
    environment: dict[str, str] = {}
    for arguments in final_stage.arguments_of("ENV"):
        environment.update(parse_env(arguments))
    assert environment.get("EQL_STREAM_RULES") == RULES_FOLDER
    assert environment.get("EQL_STREAM_METRICS_PORT") == METRICS_PORT
    assert environment.get("PYTHONDONTWRITEBYTECODE") == "1"


@pytest.mark.parametrize("path", [*BUILD_CONTEXT_FILES, "stream/cli.py", "stream/rules/shipped/rule.toml"])
def test_dockerignore_keeps_build_input(path: str) -> None:
    assert not is_ignored(path, _dockerignore_patterns())


@pytest.mark.parametrize(
    "path",
    [".venv", ".git", ".kafka", "tests/data", "scripts/kafka/lib", "stream/__pycache__", "stream/cli.pyc"],
)
def test_dockerignore_excludes_local_state(path: str) -> None:
    assert is_ignored(path, _dockerignore_patterns())


def _dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _copy_build_context(destination: Path) -> None:
    """Copy what the builder stage copies, so the build leaves no files in the repository."""
    for name in BUILD_CONTEXT_FILES:
        source = REPOSITORY / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, destination / name)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the project's wheel as the Dockerfile does.

    pip builds in an isolated environment, so it may download setuptools from the package index.
    """
    context = tmp_path_factory.mktemp("context")
    output = tmp_path_factory.mktemp("wheel")
    _copy_build_context(context)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(output), str(context)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"pip wheel failed:\n{result.stdout}\n{result.stderr}"
    wheels = list(output.glob("eql_stream-*.whl"))
    assert len(wheels) == 1, f"expected one eql_stream wheel in {output}, found {wheels}"
    return wheels[0]


def test_wheel_contains_shipped_rules(wheel: Path) -> None:
    expected = {f"stream/rules/shipped/{path.name}" for path in SHIPPED_RULES.glob("*.toml")}
    assert expected, f"no shipped rule file in {SHIPPED_RULES}"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert expected <= names, f"missing from the wheel: {sorted(expected - names)}"


def test_wheel_declares_console_script(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        entry_points_name = next(name for name in archive.namelist() if name.endswith(".dist-info/entry_points.txt"))
        entry_points = archive.read(entry_points_name).decode("utf-8")
    parser = configparser.ConfigParser()
    parser.read_string(entry_points)
    assert parser.get("console_scripts", "eql-stream") == "stream.cli:main"


def test_wheel_leaves_out_tests(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        top_level = {name.split("/", 1)[0] for name in archive.namelist()}
    unexpected = {name for name in top_level if name != "stream" and not name.endswith(".dist-info")}
    assert not unexpected
