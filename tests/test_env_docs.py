"""Code and docs cannot disagree on environment variables: docs/configuration.md's table is
generated from ``otel_replay.core.env.SETTINGS``, and every variable the code reads is in it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from otel_replay.core import conventions as c
from otel_replay.core.env import SETTINGS, STANDARD_SETTINGS

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED = {s.name for s in SETTINGS + STANDARD_SETTINGS}
# "OTEL_REPLAY_X" anywhere, and any "NAME" passed to os.environ / os.getenv
_LITERAL = re.compile(r"\bOTEL_REPLAY_[A-Z0-9_]+\b")
_READ = re.compile(r"""(?:environ(?:\.get)?\(|environ\[|getenv\()\s*["']([A-Z][A-Z0-9_]*)["']""")


def _read_in_code() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "otel_replay").rglob("*.py")):
        if "_proto" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        for name in set(_LITERAL.findall(text)) | set(_READ.findall(text)):
            found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    for name, value in vars(c).items():
        if name.startswith("ENV_"):
            found.setdefault(value, []).append(f"otel_replay/core/conventions.py:{name}")
    return found


def test_every_variable_the_code_reads_is_documented():
    undocumented = {k: v for k, v in _read_in_code().items() if k not in DOCUMENTED}
    assert undocumented == {}, (
        "add these to otel_replay/core/env.py SETTINGS, then run "
        "python scripts/env_table.py --write"
    )


def test_every_documented_variable_is_read_somewhere():
    assert sorted(DOCUMENTED - set(_read_in_code())) == []


def test_docs_table_is_generated_from_the_settings():
    proc = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "scripts" / "env_table.py")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for s in SETTINGS + STANDARD_SETTINGS:
        assert f"| `{s.name}` | {s.default} | {s.meaning} |" in doc


def test_the_check_fails_for_a_variable_added_without_docs(tmp_path, monkeypatch):
    # what a new reader of OTEL_REPLAY_NEW_KNOB in the package would look like to the check
    fake = tmp_path / "otel_replay" / "knob.py"
    fake.parent.mkdir()
    fake.write_text('import os\nos.environ.get("OTEL_REPLAY_NEW_KNOB")\nos.getenv("OTHER_VAR")\n')
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    found = _read_in_code()
    assert {k for k in found if k not in DOCUMENTED} == {"OTEL_REPLAY_NEW_KNOB", "OTHER_VAR"}
