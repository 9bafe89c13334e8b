"""WeCom's Finance SDK (会话内容存档 C SDK, ``libWeWorkFinanceSdk_C.so``) through :mod:`ctypes`.

shequn cannot ship the library: the operator downloads it from WeCom and names it in ``SHEQUN_WECOM_FINANCE_SDK``.
The prototypes are those of ``WeWorkFinanceSdk_C.h``::

    WeWorkFinanceSdk_t* NewSdk();
    int Init(WeWorkFinanceSdk_t* sdk, const char* corpid, const char* secret);
    int GetChatData(WeWorkFinanceSdk_t* sdk, unsigned long long seq, unsigned int limit, const char* proxy,
                    const char* passwd, int timeout, Slice_t* chatDatas);
    int GetMediaData(WeWorkFinanceSdk_t* sdk, const char* indexbuf, const char* sdkFileid, const char* proxy,
                     const char* passwd, int timeout, MediaData_t* media_data);
    int DecryptData(const char* encrypt_key, const char* encrypt_msg, Slice_t* msg);
    void DestroySdk(WeWorkFinanceSdk_t* sdk);
    Slice_t* NewSlice(); void FreeSlice(Slice_t*); char* GetContentFromSlice(Slice_t*); int GetSliceLen(Slice_t*);
    MediaData_t* NewMediaData(); void FreeMediaData(MediaData_t*); char* GetOutIndexBuf(MediaData_t*);
    char* GetData(MediaData_t*); int GetIndexLen(MediaData_t*); int GetDataLen(MediaData_t*);
    int IsMediaDataFinish(MediaData_t*);

Every call answers 0 or one of the header's error codes (10000 bad parameters … 10011 certificate error); 10001
(network), 10002 (unparsable answer) and 10003 (system) are worth retrying. ``GetChatData`` fills the slice with
``{"errcode", "errmsg", "chatdata": [{seq, msgid, publickey_ver, encrypt_random_key, encrypt_chat_msg}]}``; a
non-zero ``errcode`` there (an IP not on the archive's trusted list: 301042 …) is WeCom's own refusal.

Things to keep in mind:
    * The calls block (they go to WeCom over the network): callers run them in a worker thread, one at a time.
    * Slices and media data are freed by the SDK's own Free functions, always (``try``/``finally``).
    * The archive secret is passed to ``Init`` only; it never reaches a log line or an error message.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from shequn.domain import UserError
from shequn.i18n import t

RETRYABLE = frozenset({10001, 10002, 10003})
KNOWN_CODES = frozenset(range(10000, 10012))
ARCHIVE_SETTINGS = ("SHEQUN_WECOM_CORP_ID", "SHEQUN_WECOM_ARCHIVE_SECRET", "SHEQUN_WECOM_ARCHIVE_KEYS")
MAX_LIMIT = 1000  # GetChatData: "一次拉取的消息条数，最大值1000条，超过1000条会返回错误"
MEDIA_CHUNK_CALLS = 10_000  # a 512 KB chunk per call: a bound on one file (5 GB), never reached by a real one

_P = ctypes.c_void_p
_S = ctypes.c_char_p
_I = ctypes.c_int
_PROTOTYPES: dict[str, tuple[Any, list[Any]]] = {
    "NewSdk": (_P, []),
    "Init": (_I, [_P, _S, _S]),
    "GetChatData": (_I, [_P, ctypes.c_ulonglong, ctypes.c_uint, _S, _S, _I, _P]),
    "GetMediaData": (_I, [_P, _S, _S, _S, _S, _I, _P]),
    "DecryptData": (_I, [_S, _S, _P]),
    "DestroySdk": (None, [_P]),
    "NewSlice": (_P, []),
    "FreeSlice": (None, [_P]),
    "GetContentFromSlice": (_P, [_P]),
    "GetSliceLen": (_I, [_P]),
    "NewMediaData": (_P, []),
    "FreeMediaData": (None, [_P]),
    "GetOutIndexBuf": (_P, [_P]),
    "GetData": (_P, [_P]),
    "GetIndexLen": (_I, [_P]),
    "GetDataLen": (_I, [_P]),
    "IsMediaDataFinish": (_I, [_P]),
}


class FinanceError(UserError):
    """The SDK refused or failed: ``code`` is the header's (10000–10011) or WeCom's ``errcode``; ``setting`` names
    what the operator should look at."""

    def __init__(self, message: str, *, code: int = 0, setting: str = "") -> None:
        super().__init__(message, exit_code=2)
        self.code = code
        self.setting = setting

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE


def meaning(code: int) -> str:
    """What an SDK error code means, in the process locale."""
    return t(f"archive.code.{code}") if code in KNOWN_CODES else t("archive.code.other")


def _setting_of(code: int) -> str:
    if code in (10004, 10006, 10007, 10008):
        return "SHEQUN_WECOM_ARCHIVE_KEYS"
    if code in (10001, 10009):
        return "SHEQUN_WECOM_ARCHIVE_PROXY"
    return "SHEQUN_WECOM_ARCHIVE_SECRET"


class FinanceSDK:
    """One loaded SDK, initialised for one corp (``NewSdk`` + ``Init``); :meth:`close` calls ``DestroySdk``."""

    def __init__(
        self,
        library: str,
        corp_id: str,
        secret: str,
        *,
        proxy: str = "",
        proxy_password: str = "",
        timeout: int = 10,
    ) -> None:
        self.library = library
        self.lib = _load(library)
        self.proxy = proxy.encode()
        self.proxy_password = proxy_password.encode()
        self.timeout = timeout
        self._lock = threading.Lock()  # the SDK is called one call at a time
        self._sdk = self.lib.NewSdk()
        if not self._sdk:
            raise FinanceError(t("archive.new_sdk_failed", None, path=library), setting="SHEQUN_WECOM_FINANCE_SDK")
        code = int(self.lib.Init(self._sdk, corp_id.encode(), secret.encode()))
        if code != 0:
            self.close()
            message = t("archive.init_failed", None, code=code, meaning=meaning(code))
            raise FinanceError(message, code=code, setting="SHEQUN_WECOM_ARCHIVE_SECRET")

    def __repr__(self) -> str:
        return f"FinanceSDK({self.library!r})"

    def close(self) -> None:
        with self._lock:
            if self._sdk:
                self.lib.DestroySdk(self._sdk)
                self._sdk = None

    def _slice_text(self, slice_: int) -> bytes:
        ptr = self.lib.GetContentFromSlice(slice_)
        size = int(self.lib.GetSliceLen(slice_))
        return ctypes.string_at(ptr, size) if ptr and size > 0 else b""

    def chat_data(self, seq: int, limit: int) -> list[dict[str, Any]]:
        """The archive's messages after ``seq`` (at most ``limit``, ≤ 1000), each still encrypted."""
        limit = max(1, min(limit, MAX_LIMIT))
        with self._lock:
            slice_ = self.lib.NewSlice()
            try:
                code = int(
                    self.lib.GetChatData(self._sdk, seq, limit, self.proxy, self.proxy_password, self.timeout, slice_)
                )
                raw = self._slice_text(slice_) if code == 0 else b""
            finally:
                self.lib.FreeSlice(slice_)
        if code != 0:
            raise self._error("GetChatData", code)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise FinanceError(t("archive.not_json", None, call="GetChatData"), code=10002) from None
        errcode = int(data.get("errcode", 0) or 0)
        if errcode:
            message = t("archive.wecom_refused", None, code=errcode, errmsg=str(data.get("errmsg", ""))[:300])
            raise FinanceError(message, code=errcode, setting="SHEQUN_WECOM_ARCHIVE_SECRET")
        rows = data.get("chatdata") or []
        return [r for r in rows if isinstance(r, dict)]

    def decrypt(self, encrypt_key: bytes, encrypt_msg: str) -> dict[str, Any]:
        """``DecryptData``: the message's plaintext JSON, given its random key already RSA-decrypted."""
        with self._lock:
            slice_ = self.lib.NewSlice()
            try:
                code = int(self.lib.DecryptData(encrypt_key, encrypt_msg.encode(), slice_))
                raw = self._slice_text(slice_) if code == 0 else b""
            finally:
                self.lib.FreeSlice(slice_)
        if code != 0:
            raise self._error("DecryptData", code)
        try:
            out = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise FinanceError(t("archive.not_json", None, call="DecryptData"), code=10002) from None
        if not isinstance(out, dict):
            raise FinanceError(t("archive.not_json", None, call="DecryptData"), code=10002)
        return out

    def media(self, sdkfileid: str, *, max_bytes: int) -> bytes:
        """A media file (``GetMediaData`` chunk by chunk, each call continuing from the last ``outindexbuf``)."""
        out = bytearray()
        index = b""
        for _ in range(MEDIA_CHUNK_CALLS):
            with self._lock:
                md = self.lib.NewMediaData()
                try:
                    code = int(
                        self.lib.GetMediaData(
                            self._sdk, index, sdkfileid.encode(), self.proxy, self.proxy_password, self.timeout, md
                        )
                    )
                    if code == 0:
                        size = int(self.lib.GetDataLen(md))
                        ptr = self.lib.GetData(md)
                        if ptr and size > 0:
                            out += ctypes.string_at(ptr, size)
                        ilen = int(self.lib.GetIndexLen(md))
                        iptr = self.lib.GetOutIndexBuf(md)
                        index = ctypes.string_at(iptr, ilen) if iptr and ilen > 0 else b""
                        finished = bool(self.lib.IsMediaDataFinish(md))
                finally:
                    self.lib.FreeMediaData(md)
            if code != 0:
                raise self._error("GetMediaData", code)
            if finished:
                return bytes(out)
            if len(out) > max_bytes:
                raise FinanceError(t("archive.media_too_big", None, size=len(out), limit=max_bytes))
        raise FinanceError(t("archive.media_too_big", None, size=len(out), limit=max_bytes))

    def _error(self, call: str, code: int) -> FinanceError:
        setting = _setting_of(code)
        message = t("archive.sdk_error", None, call=call, code=code, meaning=meaning(code), setting=setting)
        return FinanceError(message, code=code, setting=setting)


def _load(library: str) -> ctypes.CDLL:
    """The library with its prototypes declared; a missing file or symbol is an error naming the setting."""
    path = Path(library).expanduser()
    if not path.is_file():
        raise FinanceError(t("archive.sdk_missing", None, path=str(path)), setting="SHEQUN_WECOM_FINANCE_SDK")
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise FinanceError(
            t("archive.sdk_unloadable", None, path=str(path), why=str(exc)[:300]), setting="SHEQUN_WECOM_FINANCE_SDK"
        ) from None
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise FinanceError(
                t("archive.sdk_symbol", None, path=str(path), symbol=name), setting="SHEQUN_WECOM_FINANCE_SDK"
            ) from None
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def sdk_from_env(env: Mapping[str, str]) -> FinanceSDK:
    """The SDK named by ``SHEQUN_WECOM_FINANCE_SDK``, initialised with the corp id and the archive's own secret."""
    missing = [k for k in ARCHIVE_SETTINGS if not env.get(k)]
    if missing:
        raise FinanceError(t("archive.settings_missing", None, names=", ".join(missing)), setting=missing[0])
    try:
        timeout = int(env.get("SHEQUN_WECOM_ARCHIVE_TIMEOUT", "10"))
    except ValueError:
        raise FinanceError(
            t("archive.bad_number", None, name="SHEQUN_WECOM_ARCHIVE_TIMEOUT"), setting="SHEQUN_WECOM_ARCHIVE_TIMEOUT"
        ) from None
    return FinanceSDK(
        env["SHEQUN_WECOM_FINANCE_SDK"],
        env["SHEQUN_WECOM_CORP_ID"],
        env["SHEQUN_WECOM_ARCHIVE_SECRET"],
        proxy=env.get("SHEQUN_WECOM_ARCHIVE_PROXY", ""),
        proxy_password=env.get("SHEQUN_WECOM_ARCHIVE_PROXY_PASSWORD", ""),
        timeout=timeout,
    )
