"""Keys that name identities and groups across platforms.

A platform id is always text (Telegram ids exceed 32 bits, WeCom ids are strings). The key joins the platform and the
id with a colon; only the first colon separates them, so ids may themselves contain colons (Matrix: ``@a:b.org``).
"""

from __future__ import annotations


def identity_key(platform: str, platform_id: str) -> str:
    """The key of one identity (a person's account on one platform)."""
    return f"{platform}:{platform_id}"


def group_key(platform: str, platform_id: str) -> str:
    """The key of one group (chat room) on one platform."""
    return f"{platform}:{platform_id}"


def split_key(key: str) -> tuple[str, str]:
    """Split a key made by :func:`identity_key` or :func:`group_key` into (platform, platform id)."""
    platform, sep, rest = key.partition(":")
    if not sep:
        raise ValueError(f"not a platform key: {key!r}")
    return platform, rest
