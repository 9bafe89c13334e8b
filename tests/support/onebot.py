"""The test OneBot v11 implementation (the code lives in ``bench/onebot_fake.py``, which ``shequn bench onebot``
shares)."""

from shequn.bench.onebot_fake import BOT, FakeOneBot, ThreadedOneBot

__all__ = ["BOT", "FakeOneBot", "ThreadedOneBot"]
