"""The test Feishu open platform (the code lives in ``bench/feishu_fake.py``, which ``shequn bench feishu`` shares)."""

from shequn.bench.feishu_fake import APP_ID, APP_SECRET, FakeFeishu, ThreadedFeishu

__all__ = ["APP_ID", "APP_SECRET", "FakeFeishu", "ThreadedFeishu"]
