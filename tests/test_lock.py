"""The lock files pin the whole tree pyproject.toml asks for, and this environment is it."""

from __future__ import annotations

import os
import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+?)\s*\\?$")


def _pins(lock: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) for every package pinned in a lock file."""
    pins: dict[str, tuple[str, int]] = {}
    name = None
    for line in (ROOT / "requirements" / lock).read_text(encoding="utf-8").splitlines():
        m = PIN.match(line)
        if m:
            name = canonicalize_name(m.group(1))
            assert name not in pins, f"{lock}: {name} pinned twice"
            pins[name] = (m.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and name is not None:
            pins[name] = (pins[name][0], pins[name][1] + 1)
        elif line.strip() and not line.lstrip().startswith("#"):
            raise AssertionError(f"{lock}: a line that is neither a pin nor a hash: {line!r}")
    return pins


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _direct(extra: bool) -> list[Requirement]:
    project = _project()
    reqs = list(project["dependencies"])
    if extra:
        reqs += project["optional-dependencies"]["dev"]
    build = (ROOT / "requirements" / "build.in").read_text(encoding="utf-8").splitlines()
    reqs += [r for r in build if r.strip() and not r.startswith("#")]
    return [Requirement(r) for r in reqs]


@pytest.mark.parametrize(("lock", "extra"), [("run.lock", False), ("dev.lock", True)])
def test_every_direct_dependency_is_pinned_inside_its_range(lock: str, extra: bool) -> None:
    pins = _pins(lock)
    wrong = {}
    for req in _direct(extra):
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None or not req.specifier.contains(pinned[0], prereleases=True):
            wrong[req.name] = (str(req.specifier), pinned and pinned[0])
    assert wrong == {}, "run scripts/lock after changing pyproject.toml"


@pytest.mark.parametrize("lock", ["run.lock", "dev.lock"])
def test_every_pin_carries_hashes(lock: str) -> None:
    pins = _pins(lock)
    assert len(pins) > 20
    assert [n for n, (_, hashes) in pins.items() if hashes == 0] == []


def test_the_two_locks_agree_on_what_they_share() -> None:
    run, dev = _pins("run.lock"), _pins("dev.lock")
    assert set(run) <= set(dev)
    assert {n: (run[n][0], dev[n][0]) for n in run if run[n][0] != dev[n][0]} == {}


def test_direct_dependencies_are_capped_below_their_next_major() -> None:
    uncapped = [str(r) for r in _direct(extra=True)
                if not any(s.operator in ("<", "<=", "~=", "==") for s in r.specifier)
                and r.name not in ("tzdata", "setuptools", "wheel")]
    assert uncapped == []


@pytest.mark.skipif(os.environ.get("CONVOCA_UNLOCKED") == "1",
                    reason="scripts/test-newest runs on the newest allowed versions on purpose")
def test_this_environment_was_installed_from_the_lock() -> None:
    differing = {}
    for name, (locked, _) in _pins("dev.lock").items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            differing[name] = (locked, None)
            continue
        if installed != locked:
            differing[name] = (locked, installed)
    assert differing == {}, "install with the README's test command (from requirements/dev.lock)"


def _readme_command(marker: str) -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"<!-- {marker} -->\s*```sh\n(.+?)\n```", readme, re.S)
    assert found, f"README.md has no {marker}"
    return found.group(1)


@pytest.mark.parametrize(("marker", "lock"), [("run-command", "run.lock"),
                                              ("test-command", "dev.lock")])
def test_the_readme_commands_install_from_the_lock(marker: str, lock: str) -> None:
    cmd = _readme_command(marker)
    assert f"--require-hashes -r requirements/{lock}" in cmd
    # Convoca itself goes on top without resolving anything anew, built with the locked tools.
    assert "--no-deps --no-build-isolation -e ." in cmd
    assert cmd.index(f"requirements/{lock}") < cmd.index("-e .")
