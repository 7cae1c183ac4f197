"""Packaging: the metadata (license, classifiers, extras), the sdist's contents, the built wheel
in a clean venv at the minimum versions, and the protobuf range of the generated code.

Building needs ``build`` (the dev and test extras) and PyPI (for the isolated build environment
and the clean venv). A missing tool skips a test locally and fails it in CI (``CI=true``).
scripts/test-min-versions.sh leaves this module out: it checks the repository, not the
installed versions.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import posixpath
import re
import subprocess
import sys
import tarfile
import zipfile
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the test extra installs tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]
MINIMUM = ROOT / "constraints" / "minimum.txt"
# the extras a user installs for a feature (the others are the project's own tools)
FEATURE_EXTRAS = ("langchain", "langgraph", "prometheus", "interop", "zstd", "fast")


def _need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        message = f"needs {module} (pip install -e '.[dev,test]')"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def _run(cmd: list[str], cwd: Path = ROOT) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{cmd} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _names(extra: str) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in PROJECT["optional-dependencies"][extra]}


def _lower_bound(requirement: Requirement) -> Version:
    [floor] = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
    return floor


def _core() -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, PROJECT["dependencies"])}


# --- metadata --------------------------------------------------------------------------------
def test_license_is_an_spdx_expression_and_the_apache_text_is_shipped():
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    # PEP 639: the expression replaces license classifiers (setuptools rejects both)
    assert [c for c in PROJECT["classifiers"] if c.startswith("License ::")] == []
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    for line in (
        "Apache License",
        "Version 2.0, January 2004",
        "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION",
        "END OF TERMS AND CONDITIONS",
    ):
        assert line in text
    # license = "<SPDX expression>" and license-files need setuptools 77
    [setuptools] = [
        r for r in map(Requirement, PYPROJECT["build-system"]["requires"]) if r.name == "setuptools"
    ]
    assert setuptools.specifier.contains("77.0.0")
    assert not setuptools.specifier.contains("76.1.0")


def test_classifiers_are_known_and_match_requires_python():
    classifiers = PROJECT["classifiers"]
    for wanted in (
        "Development Status :: 3 - Alpha",
        "Framework :: OpenTelemetry",
        "Typing :: Typed",
    ):
        assert wanted in classifiers
    assert any(c.startswith("Topic :: ") for c in classifiers)
    requires_python = SpecifierSet(PROJECT["requires-python"])
    minors = [
        int(m)
        for m in re.findall(
            r"^Programming Language :: Python :: 3\.(\d+)$", "\n".join(classifiers), re.M
        )
    ]
    assert minors, "no Python version classifiers"
    assert minors == list(range(minors[0], minors[-1] + 1)), "listed Python versions have a gap"
    assert all(requires_python.contains(f"3.{m}") for m in minors)
    assert not requires_python.contains(f"3.{minors[0] - 1}"), (
        "the oldest allowed Python is not listed"
    )
    _need("trove_classifiers")
    from trove_classifiers import classifiers as known

    assert sorted(set(classifiers) - known) == [], "unknown classifiers: PyPI rejects the upload"


def test_extras_are_split_and_each_is_documented_in_the_readme():
    extras = PROJECT["optional-dependencies"]
    assert {"ruff", "mypy", "types-protobuf", "build"} <= _names("dev")
    assert {"pytest", "pytest-timeout", "hypothesis", "build", "atheris"} <= _names("test")
    assert not {"ruff", "mypy", "types-protobuf"} & _names("test")
    assert not {"pytest", "hypothesis", "atheris"} & _names("dev")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "\n## Extras\n" in readme
    section = readme.split("\n## Extras\n", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z]+)` \|", section, re.M)
    assert sorted(documented) == sorted(extras), "the README's Extras table and pyproject differ"


def _optional_imports() -> dict[str, set[str]]:
    """Top-level modules the package imports inside ``try: ... except ImportError``, with the
    files that do."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "otel_replay").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("otel_replay/_proto/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Try):
                continue
            caught = set()
            for handler in node.handlers:
                types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                caught |= {t.id for t in types if isinstance(t, ast.Name)}
            if not caught & {"ImportError", "ModuleNotFoundError"}:
                continue
            for sub in (n for stmt in node.body for n in ast.walk(stmt)):
                if isinstance(sub, ast.Import):
                    mods = [a.name for a in sub.names]
                elif isinstance(sub, ast.ImportFrom) and sub.level == 0 and sub.module:
                    mods = [sub.module]
                else:
                    continue
                for mod in mods:
                    top = mod.split(".")[0]
                    if top != "otel_replay" and top not in sys.stdlib_module_names:
                        found.setdefault(top, set()).add(rel)
    return found


def test_every_optional_import_is_in_an_extra_and_the_accelerators_are_fast():
    optional = _optional_imports()
    assert {"orjson", "rapidfuzz", "langchain_core"} <= set(optional), optional
    dists = packages_distributions()
    accelerators = set()
    for module, files in optional.items():
        # the distributions that provide the module (a namespace such as langgraph has several);
        # the module's own name where it is not installed
        provided = {canonicalize_name(d) for d in dists.get(module, [module.replace("_", "-")])}
        if provided & set(_core()):
            continue  # a core dependency for some Pythons only (tomli before 3.11)
        in_extras = [e for e in FEATURE_EXTRAS if provided & _names(e)]
        assert in_extras, f"{module} ({sorted(files)}) is imported when present but in no extra"
        if in_extras == ["fast"] or not (
            all(f.startswith("otel_replay/integrations/") for f in files) or in_extras
        ):
            accelerators |= provided & _names("fast")
            assert provided & _names("fast"), f"{module} ({sorted(files)}) is not in [fast]"
    assert accelerators == _names("fast")


# --- dependency ranges -----------------------------------------------------------------------
def test_minimum_constraints_pin_every_core_dependency_at_its_lower_bound():
    pins: dict[str, Version] = {}
    for line in MINIMUM.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            [spec] = req.specifier
            assert spec.operator == "==", line
            pins[canonicalize_name(req.name)] = Version(spec.version)
    assert pins == {name: _lower_bound(req) for name, req in _core().items()}


def test_generated_code_runs_on_every_protobuf_the_dependencies_allow():
    protobuf = _core()["protobuf"]
    floor = _lower_bound(protobuf)
    gencode = set()
    for path in (ROOT / "otel_replay" / "_proto").rglob("*_pb2.py"):
        match = re.search(r"^# Protobuf Python Version: (\S+)$", path.read_text(), re.M)
        assert match, f"{path}: no gencode version"
        gencode.add(Version(match.group(1)))
    assert len(gencode) == 1, f"generated by more than one protoc: {sorted(gencode)}"
    [version] = gencode
    # newer gencode never runs on an older runtime; a floor above the gencode turns away
    # runtimes it runs on
    assert version == floor, f"gencode {version} but dependencies say protobuf>={floor}"
    # opentelemetry-proto's range: ours starts in the same major and ends with it
    try:
        theirs = [Requirement(r) for r in requires("opentelemetry-proto") or []]
    except PackageNotFoundError:  # pragma: no cover - a core dependency
        pytest.fail("opentelemetry-proto is not installed")
    [otel] = [r for r in theirs if r.name == "protobuf" and not r.marker]
    assert floor.major == _lower_bound(otel).major, (
        f"protobuf>={floor} excludes the protobuf {_lower_bound(otel).major}.x that "
        f"opentelemetry-proto accepts ({otel.specifier}): regenerate with an older protoc"
    )
    upper = {Version(s.version) for s in protobuf.specifier if s.operator == "<"}
    assert upper == {Version(s.version) for s in otel.specifier if s.operator == "<"}
    # Python gencode since protobuf 3.20 is supported by runtimes until at least 8.x
    assert Version("3.20") <= version and not protobuf.specifier.contains("9.0")


# --- the built distributions -----------------------------------------------------------------
def _relative_links(markdown: str) -> list[str]:
    targets = re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", markdown)
    targets += re.findall(r"^\[[^\]]+\]:\s*(\S+)", markdown, re.M)
    out = []
    for target in targets:
        target = target.split("#", 1)[0]
        if target and not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
            out.append(target)
    return out


@pytest.fixture(scope="module")
def sdist_files(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    _need("build")
    out = tmp_path_factory.mktemp("sdist")
    _run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(ROOT)])
    [path] = out.glob("*.tar.gz")
    with tarfile.open(path) as tar:
        members = [m.name for m in tar.getmembers() if m.isfile()]
    top = f"{path.name[: -len('.tar.gz')]}/"
    assert all(m.startswith(top) for m in members)
    return {m[len(top) :] for m in members}


def test_sdist_ships_every_file_the_readme_and_docs_link_to(sdist_files):
    required = {"LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml"}
    required |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "proto").rglob("*.proto")}
    todo, seen = ["README.md"], set()
    while todo:  # the README's relative links, and the links of the markdown files they reach
        md = todo.pop()
        if md in seen:
            continue
        seen.add(md)
        for target in _relative_links((ROOT / md).read_text(encoding="utf-8")):
            path = posixpath.normpath(posixpath.join(posixpath.dirname(md), target))
            assert (ROOT / path).exists(), f"{md} links to {target}, which does not exist"
            if (ROOT / path).is_dir():
                required |= {
                    p.relative_to(ROOT).as_posix() for p in (ROOT / path).rglob("*") if p.is_file()
                }
                continue
            required.add(path)
            if path.endswith(".md"):
                todo.append(path)
    assert {"docs/semantic-conventions.md", "docs/performance.md", "docs/pipelines.md"} <= required
    assert sorted(required - sdist_files) == []
    assert any(f.startswith("otel_replay/_proto/") and f.endswith("_pb2.py") for f in sdist_files)


@pytest.mark.slow
def test_built_distributions_install_and_run_in_a_clean_venv_at_the_minimum_versions(tmp_path):
    _need("build")
    _need("ensurepip")  # python -m venv installs pip with it
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)])  # sdist, then wheel
    [sdist] = dist.glob("*.tar.gz")
    [wheel] = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert [n for n in names if not n.startswith(("otel_replay/", "otel_replay-"))] == []
    for shipped in ("otel_replay/py.typed", "otel_replay/_proto/otel_replay/v1/checkpoint_pb2.py"):
        assert shipped in names
    assert any(n.endswith("/licenses/LICENSE") for n in names)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python, cli = str(venv / "bin" / "python"), str(venv / "bin" / "otel-replay")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    version = PROJECT["version"]
    probe = "import otel_replay, google.protobuf; print(otel_replay.__file__, google.protobuf.__version__)"
    [protobuf_pin] = [
        line.split("==")[1].strip()
        for line in MINIMUM.read_text().splitlines()
        if line.startswith("protobuf==")
    ]
    for artifact in (wheel, sdist):  # cwd is tmp_path: the source tree is not importable
        if artifact == wheel:
            _run([*pip, "-c", str(MINIMUM), str(wheel)], cwd=tmp_path)
        else:  # pip builds the sdist (setuptools from PyPI) and replaces the wheel's files
            _run([*pip, "--no-deps", "--force-reinstall", str(sdist)], cwd=tmp_path)
        assert _run([cli, "--version"], cwd=tmp_path).strip() == f"otel-replay {version}"
        location, protobuf_version = _run([python, "-c", probe], cwd=tmp_path).split()
        assert Path(location).is_relative_to(venv), location
        assert protobuf_version == protobuf_pin
