"""Page text in Simplified Chinese (the default) and English, from portal/locales/*.json.

The language comes from the `govcloud_lang` cookie that the language switch sets, else from the
browser's Accept-Language, else zh-CN. Every key exists in every language (a test checks it).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES: dict[str, str] = {"zh-CN": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh-CN"
LANGUAGE_COOKIE = "govcloud_lang"

Translate = Callable[..., str]


@functools.cache
def messages(language: str) -> dict[str, str]:
    """Every message of one language."""
    loaded: dict[str, str] = json.loads(
        (LOCALES_DIR / f"{language}.json").read_text(encoding="utf-8")
    )
    return loaded


def translator(language: str) -> Translate:
    """`t(key, **values)` for one language; an unknown key shows as itself."""
    table = messages(language if language in LANGUAGES else DEFAULT_LANGUAGE)

    def t(key: str, **values: Any) -> str:
        text = table.get(key, key)
        return text.format(**values) if values else text

    return t


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The language for a request: the cookie's, else the browser's first we have."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE
