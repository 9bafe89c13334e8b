"""Everything a person reads exists in zh-CN and en: every message key used in the code is in the catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import shequn
from shequn.i18n import LOCALES, catalogue, normalize_locale, t

KEY = re.compile(r"""\bt\(\s*f?["']([a-z_]+(?:\.[a-z_{}.]+)+)["']""")


def test_every_literal_key_used_in_the_code_is_in_the_catalogue() -> None:
    known = catalogue()
    missing = []
    for path in Path(shequn.__file__).parent.rglob("*.py"):
        for key in KEY.findall(path.read_text(encoding="utf-8")):
            if "{" in key:  # an f-string key: check the keys it can produce share a known prefix
                prefix = key.split("{", 1)[0]
                if not any(k.startswith(prefix) for k in known):
                    missing.append(f"{path.name}: {key}")
            elif key not in known:
                missing.append(f"{path.name}: {key}")
    assert not missing, missing


def test_both_languages_and_locale_names() -> None:
    for key, entry in catalogue().items():
        assert all(entry[loc] for loc in LOCALES), key
    assert normalize_locale("en_US.UTF-8") == "en" and normalize_locale("zh_CN.UTF-8") == "zh-CN"
    assert t("cli.apply_created", "en", name="x") == "community x created"
    assert t("cli.apply_created", "zh-CN", name="x") == "已创建社群「x」"
