"""The built-in redaction rules: :class:`RedactionRule`, :data:`DEFAULT_RULES` (text rules)
and :data:`DEFAULT_SECRET_KEYS` (key rules). docs/redaction.md lists them (a test checks the
table against :data:`DEFAULT_RULES`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

__all__ = ["REDACTED", "RedactionRule", "DEFAULT_RULES", "DEFAULT_SECRET_KEYS"]

#: The replacement text of a redacted secret.
REDACTED: Final = "[REDACTED]"


@dataclass(frozen=True)
class RedactionRule:
    """A named text rule: every match of ``pattern`` is replaced by ``replacement``.

    ``replacement`` may refer to groups (``\\1``) to keep a prefix such as ``Bearer``.
    ``anchors`` (lowercase literals) make the rule cheap: the regular expression only runs
    on text whose lowercased form contains one of them, so every match must contain one.
    ``None`` runs the expression on every value.
    """

    name: str
    pattern: re.Pattern[str]
    replacement: str = REDACTED
    anchors: tuple[str, ...] | None = None

    @classmethod
    def of(
        cls,
        name: str,
        pattern: str | re.Pattern[str],
        replacement: str = REDACTED,
        anchors: tuple[str, ...] | None = None,
    ) -> RedactionRule:
        """A rule from a pattern string (compiled) or a compiled pattern."""
        compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
        return cls(name, compiled, replacement, anchors)


_R = RedactionRule.of
_KEY_NAMES = (
    r"api[_-]?key|apikey|x[_-]api[_-]key|access[_-]?key|secret[_-]?key|access[_-]?token|"
    r"auth[_-]?token|refresh[_-]?token|id[_-]?token|client[_-]?secret|secret|password|passwd|"
    r"pwd|token|private[_-]?key"
)
#: Built-in text rules (order matters: earlier rules run first).
DEFAULT_RULES: tuple[RedactionRule, ...] = (
    _R(
        "private_key",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[^\"]*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|(?=\")|$)",
        "[REDACTED PRIVATE KEY]",
        ("-----begin",),
    ),
    _R("bearer", r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]{6,}=*", r"\1 " + REDACTED, ("bearer",)),
    _R("basic_auth", r"(?i)\b(basic)\s+[A-Za-z0-9+/]{8,}={0,2}", r"\1 " + REDACTED, ("basic",)),
    _R(
        "url_password",
        r"(?i)\b([a-z][a-z0-9+.\-]{0,31}://[^\s:/@\"'<>]{0,256}:)[^\s/@\"'<>]{1,256}(@)",
        r"\1" + REDACTED + r"\2",
        ("://",),
    ),
    _R(
        "openai_key",
        r"\bsk-(?:proj-|ant-|live-|test-|svcacct-)?[A-Za-z0-9_\-]{16,}",
        anchors=("sk-",),
    ),
    _R(
        "aws_access_key",
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
        anchors=("akia", "asia", "abia", "acca"),
    ),
    _R(
        "github_token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
        anchors=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    _R(
        "stripe_key",
        r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",
        anchors=("sk_live_", "rk_live_", "sk_test_", "rk_test_"),
    ),
    _R("huggingface_token", r"\bhf_[A-Za-z0-9]{30,}", anchors=("hf_",)),
    _R("gitlab_token", r"\bglpat-[A-Za-z0-9_\-]{20,}", anchors=("glpat-",)),
    _R("npm_token", r"\bnpm_[A-Za-z0-9]{36,}", anchors=("npm_",)),
    _R("slack_token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}", anchors=("xox",)),
    _R("google_api_key", r"\bAIza[0-9A-Za-z\-_]{35}", anchors=("aiza",)),
    _R(
        "jwt",
        r"\beyJ[A-Za-z0-9_\-]{8,8192}\.eyJ[A-Za-z0-9_\-]{8,8192}\.[A-Za-z0-9_\-]{8,}",
        anchors=("eyj",),
    ),
    _R(
        "key_value",
        r"(?i)\b((?:"
        + _KEY_NAMES
        + r")[\"']?\s{0,16}[:=]\s{0,16}[\"']?)(?!\[REDACTED)[^\s\"'&,;}\]]+",
        r"\1" + REDACTED,
        ("key", "token", "secret", "passw", "pwd"),
    ),
)
del _R

#: Attribute keys whose whole string value is a secret: one of these words as a
#: ``.``/``_``/``-`` separated part of the key (``http.request.header.authorization``,
#: ``db.password``, ``user_api_key``), case-insensitive.
DEFAULT_SECRET_KEYS: Final = (
    r"(?i)(?:^|[._\-])(?:password|passwd|pwd|secret|client[_-]?secret|token|access[_-]?token|"
    r"refresh[_-]?token|id[_-]?token|auth[_-]?token|api[_-]?key|apikey|access[_-]?key|"
    r"secret[_-]?key|private[_-]?key|authorization|proxy[_-]authorization|credentials?|"
    r"cookie|set[_-]cookie)(?:$|[._\-])"
)
