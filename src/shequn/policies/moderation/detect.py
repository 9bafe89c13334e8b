"""Ad detection (广告识别): the evidence in one message, weighed into a score an operator can read.

How it works:
    :meth:`Detector.inspect` normalizes the text (NFKC folds full-width digits and letters, circled digits and the
    like; Chinese numerals become digits where they spell a number) and collects :class:`Evidence`: contact details
    (a contact word followed by a handle: 微信号, vx, V信, 薇, ➕V, QQ, 电话 …), phone numbers (also spelled with
    spaces or symbols between the digits, or in full-width or Chinese digits), the evasion itself (an operator's
    strongest tell: an honest member has no reason to write 1 5 8 8 …), links (shorteners and invite links weigh
    more), QR codes, mini programs and contact cards, words of the advertising lexicon, calls to action (私聊, 详情,
    扫码, "DM me", "пишите в лс"), earning claims (日赚, 躺赚, "profit", "заработок") and words that mix Latin and
    Cyrillic letters (homoglyphs). Each piece of evidence has a weight; the policy adds what it knows about the
    poster (a newcomer who has hardly spoken, or an established member) and what the classifier learned from the
    operators' labels, and calls the message an ad when the total reaches the community's threshold.

Things to keep in mind:
    * No single weak signal makes an ad: a link, a phone number for an event sign-up or one lexicon word stay below
      the threshold; it takes a contact detail *and* a commercial cue, or an evasion, or several cues together.
    * Every verdict carries its evidence (kind and the matched text), shown to members and staff.
    * This module is pure and fast: the hot path is one normalization and a handful of compiled regexes; the
      lexicon is matched through an index of its words' first two characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shequn.domain import ContentKind

# Weights of each kind of evidence (an operator may change them per community: policies.moderation.weights).
WEIGHTS: dict[str, float] = {
    "contact": 2.0,  # a contact word followed by a handle or number
    "phone": 1.5,  # a mobile number
    "evasion": 1.5,  # digits split by spaces or symbols, full-width or Chinese digits, disguised contact words
    "homoglyph": 1.5,  # a word mixing Latin and Cyrillic letters
    "link": 1.0,
    "shortener": 1.0,  # a link shortener hides where it goes
    "invite": 1.0,  # an invite link to another group or channel
    "qr": 2.0,
    "mini_program": 1.5,
    "contact_card": 1.5,
    "lexicon": 0.75,  # per distinct word of the advertising lexicon (at most three count)
    "solicit": 1.0,  # a call to action
    "money": 1.0,  # an earning claim
    "newcomer": 1.0,  # joined recently and has hardly spoken
    "established": -1.5,  # a long-standing, talkative member
}
LEXICON_MAX_HITS = 3
# Words of the lexicon that name everyday things, places of work or public institutions as often as they sell
# anything (微信, 免费, 支付, 哈希 in a tech group, 证监会 in a finance group): they weigh half.
COMMON_WORDS = (
    "微信", "网络", "支付", "免费", "流量", "集团", "转账", "淘宝", "客服", "网购", "招聘", "全职", "营销", "投放",
    "现货", "到货", "本店", "小姐", "技师", "社工", "证监会", "救市", "崩盘", "资金短缺", "梯子", "财神", "qq群",
    "哈希", "周小川", "刘明康", "尚福林", "孔丹", "视频来源", "下载速度", "在线播放", "电报中文", "中文电报",
)  # fmt: skip

_CN_DIGITS = str.maketrans("〇零一壹二贰两三叁四肆五伍六陆七柒八捌九玖", "001122233445566778899")
_CN_DIGIT_CHARS = "〇零一壹二贰两三叁四肆五伍六陆七柒八捌九玖"
_CN_NUMBER = re.compile(f"[{_CN_DIGIT_CHARS}]{{7,}}")
_FULLWIDTH_OR_CIRCLED = re.compile("[\uff10-\uff19\u2460-\u2473\u2776-\u277f\u24ea\u3220-\u3229]")

# Digits with separators between them: at least 7 digits, each gap at most 3 separator characters.
_DIGIT_RUN = re.compile(r"\d(?:[\s\-_.·•,，、/|*~+=#]{0,3}\d){6,}")
_SPACED = re.compile(r"\d[^\d]{1,3}\d[^\d]{1,3}\d[^\d]{1,3}\d[^\d]{1,3}\d")  # five single digits, each set apart
_MOBILE = re.compile(r"1[3-9]\d{9}")
_DATE_LIKE = re.compile(r"^(?:19|20)\d\d[-/.年]\d{1,2}[-/.月]\d{1,2}")

_IM_WORD = (
    r"(?:微信号?|weixin|wechat|wx|vx|v信|qq号?|扣扣|企鹅|q号|whats\s*app|telegram|tg|line\s*id|加v|加q|\+v|\+q|➕v|➕q|"
    r"薇信?|威信|威❤|薇❤|卫星号?|🛰|v|q)"
)
_PHONE_WORD = r"(?:电话|手机号?|tel|phone|联系方式|联系电话|联系)"
# A contact word, an optional colon or "是/号", then a handle (letters, digits, underscores, with a digit or an
# underscore in it, as IM ids have) or a number. Bare "v"/"q" must not be the end of a longer word.
_CONTACT = re.compile(
    r"(?<![a-z0-9])(?:" + _IM_WORD + "|" + _PHONE_WORD + r")\s*(?:[:：]|是|号|id)?\s*"
    r"(?P<handle>(?=[a-z0-9_\-]*[\d_])[a-z][a-z0-9_\-]{4,19}|\d[\d\s\-]{4,14}\d)",
)
# Disguised contact words: what nobody writes unless dodging a filter.
_EVASIVE_WORD = re.compile(
    r"(?:[薇威卫危维]\s*(?:信|❤|♥|[:：])|v\s*(?:信|❤)|[+➕]\s*[vq]|vx|v[:：]|扣扣|企鹅|🛰|🐧|卫星"
    r"|(?<![\u4e00-\u9fff])[薇威卫维](?=\s*[a-z]))"  # a bare 薇 before a handle stands for 微信
)

_URL = re.compile(
    r"(?:https?://|www\.)[^\s，。！？、]+|\b[a-z0-9][a-z0-9\-]{0,40}\.(?:com|cn|net|org|cc|top|xyz|me|io|ly|ru|info|"
    r"shop|vip|club|site|online|link|gg|fr|co)(?:/[^\s，。！？、]*)?\b|点\s*com|dot\s*com"
)
_SHORTENERS = (
    "t.cn/", "bit.ly/", "url.cn/", "dwz.cn/", "tinyurl.com/", "goo.gl/", "is.gd/", "suo.im/", "t.co/", "urlz.fr/",
    "cutt.ly/", "rb.gy/", "ow.ly/", "s.id/", "shorturl.at/", "reurl.cc/", "w.url.cn/",
)  # fmt: skip
_INVITES = ("t.me/+", "t.me/joinchat", "chat.whatsapp.com", "discord.gg", "qm.qq.com", "jq.qq.com", "joinchat")

_QR_WORDS = re.compile(r"二维码|扫码|扫一扫|qr|qrcode", re.IGNORECASE)

# Calls to action and earning claims, as literal phrases (matched with the lexicon in one pass). "加我" (add me) is
# not one: members adding each other on WeChat is what the book asks for (组织大家在24小时之内将群成员加为好友, 1686).
SOLICIT_PHRASES = (
    "私聊", "私信我", "私我", "详情", "咨询", "点击", "戳链接", "扫码", "扫一扫", "有意者", "有意向", "感兴趣的",
    "免费领", "先到先得", "仅限前", "名额有限", "速来",
)  # fmt: skip
MONEY_PHRASES = (
    "日赚", "日结", "日入", "月入", "躺赚", "赚钱", "轻松赚", "收益", "返利", "返现", "佣金", "提成", "兼职", "副业",
    "刷单", "零投资", "高薪", "💰", "💵", "💸", "🤑",
)  # fmt: skip
# … and as patterns: words of other languages (for text with Latin or Cyrillic letters) and sums of money.
_SOLICIT_RE = re.compile(
    r"\b(?:dm me|contact me|click|join now|register|sign up|inbox me|write (?:to )?me)\b|"
    r"в\s*л(?:с|ичк|ичн)|пиши|напиши|подробност|переходи|жду в"
)
_MONEY_RE = re.compile(
    r"\b(?:earn(?:ing)?s?|income|forex|trading|bitcoin|usdt)\b|\b(?:profit|invest|crypto|withdraw)|"
    r"заработ|доход|прибыл|инвест|крипт"
)
_CLOSER = re.compile(r"[0-9A-Za-zА-Яа-яЁё$➕🛰🐧]")
# Anything beyond plain Chinese text: digits, letters of any script here, money signs, contact symbols, and what folds.
_SPECIAL = re.compile(
    "[0-9A-Za-zА-Яа-яЁё$元万➕🛰🐧\uff10-\uff19\uff20-\uff3a\uff41-\uff5a\u2460-\u24ff\u2776-\u277f"
    "\u3220-\u3229\u00b2\u00b3\u00b9\u2070-\u209f\U0001d400-\U0001d7ff]"
)
_MONEY_HINT = re.compile(r"[$元万wк]|руб")
_MONEY_SUM = re.compile(r"\d\s*(?:[万w]\s*[+/元]|元\s*/\s*天|\$|руб|к\b)|\$\s?\d")
_LETTERS = re.compile(r"[a-zа-яё]")
_DIGIT = re.compile(r"\d")
_LATIN = re.compile(r"[a-z]")
_CYRILLIC = re.compile(r"[а-яё]")
_WORD = re.compile(r"\w+")
# Worth the contact and link checks: digits, Latin letters, or a disguised contact word or Chinese-digit number.
_CONTACT_GATE = re.compile(r"\d[\d\s\-_.·•,，、/|*~+=#]{3,}|[a-z]{2,}|[➕🛰🐧]")
_CONTACT_GATE_CN = re.compile(r"[薇威卫危维]\s*[信❤♥:：]|[〇零一壹二贰两三叁四肆五伍六陆七柒八捌九玖]{7}")
# What NFKC would change that matters here: full-width letters and digits, circled and styled digits and letters.
_FOLDABLE = re.compile(
    "[\uff10-\uff19\uff20-\uff3a\uff41-\uff5a\u2460-\u24ff\u2776-\u277f\u3220-\u3229\u00b2\u00b3\u00b9"
    "\u2070-\u209f\U0001d400-\U0001d7ff]"
)


def _trie_regex(words: Iterable[str]) -> re.Pattern[str]:
    """One regex matching any of ``words`` (longest first), built as a trie so each position costs little."""
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + build(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if "" in node else body

    pattern = build(trie)
    return re.compile(pattern or r"(?!x)x")


@dataclass(frozen=True, slots=True)
class Evidence:
    """One reason to think a message is an ad: its kind, what matched, and its weight."""

    kind: str
    detail: str
    weight: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """The evidence found in a message and its total."""

    evidence: tuple[Evidence, ...]
    score: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "score", round(sum(e.weight for e in self.evidence), 3))

    def kinds(self) -> list[str]:
        return [e.kind for e in self.evidence]

    def describe(self, limit: int = 4) -> str:
        """The strongest evidence as ``kind(detail)``, for staff and logs."""
        top = sorted((e for e in self.evidence if e.weight > 0), key=lambda e: -e.weight)[:limit]
        return ", ".join(f"{e.kind}({e.detail})" if e.detail else e.kind for e in top)


def normalize(text: str) -> str:
    """NFKC (full-width → ASCII, circled digits → digits …), lower case."""
    return unicodedata.normalize("NFKC", text).lower()


class Detector:
    """The evidence finder for one community: the lexicon (built in plus the community's words) and the weights.

    Args:
        lexicon: advertising words (the shipped cleanse-speech list).
        words: the community's own advertising words.
        weights: overrides of :data:`WEIGHTS`.
        common: lexicon words too common in ordinary chat to count fully (they weigh half).
    """

    def __init__(
        self,
        lexicon: Iterable[str],
        words: Iterable[str] = (),
        weights: Mapping[str, float] | None = None,
        common: Iterable[str] = (),
    ) -> None:
        self.weights = {**WEIGHTS, **(weights or {})}
        cats: dict[str, set[str]] = {}
        for category, items in (
            ("lexicon", (*lexicon, *words)),
            ("solicit", SOLICIT_PHRASES),
            ("money", MONEY_PHRASES),
        ):
            for w in items:
                n = normalize(w).strip()
                if n:
                    cats.setdefault(n, set()).add(category)
        self._cats = {w: frozenset(c) for w, c in cats.items()}
        self._common = frozenset(normalize(w).strip() for w in common)
        self._phrases = _trie_regex(sorted(cats))

    @property
    def plain_ceiling(self) -> float:
        """The most plain text can score: lexicon words, a call to action, an earning claim (no contact or link)."""
        w = self.weights
        return max(w["lexicon"], 0) * LEXICON_MAX_HITS + max(w["solicit"], 0) + max(w["money"], 0)

    @staticmethod
    def worth_a_closer_look(text: str) -> bool:
        """Whether ``text`` holds what plain text does not: digits, Latin or Cyrillic letters, a disguised contact
        word, a number in Chinese digits, a sum of money, or characters that fold to any of these."""
        return bool(_CLOSER.search(text) or _CONTACT_GATE_CN.search(text) or _FOLDABLE.search(text))

    def lexicon_hits(self, norm: str) -> list[str]:
        """Distinct lexicon words in ``norm`` (normalized text), in order of appearance."""
        return list(dict.fromkeys(w for w in self._phrases.findall(norm) if "lexicon" in self._cats[w]))

    def inspect(
        self, text: str, content: ContentKind = ContentKind.TEXT, media: str = "", qr: bool = False
    ) -> list[Evidence]:
        """The evidence in one message (its text or caption, its content kind and attachment name)."""
        w = self.weights
        out: list[Evidence] = []
        if content is ContentKind.MINI_PROGRAM:
            out.append(Evidence("mini_program", "", w["mini_program"]))
        elif content is ContentKind.CONTACT_CARD:
            out.append(Evidence("contact_card", "", w["contact_card"]))
        if qr or (content in (ContentKind.IMAGE, ContentKind.FILE) and _QR_WORDS.search(f"{text} {media}")):
            out.append(Evidence("qr", "", w["qr"]))
        if not text:
            return out
        plain = not _SPECIAL.search(text) and not _CONTACT_GATE_CN.search(text)
        # Plain text has no letters, digits or foldable characters: nothing to fold or lower.
        norm = text if plain else normalize(text) if _FOLDABLE.search(text) else text.lower()
        solicit = money = ""
        lexicon: list[str] = []
        cats_of = self._cats
        for phrase in self._phrases.findall(norm):
            cats = cats_of[phrase]
            if "lexicon" in cats and phrase not in lexicon:
                lexicon.append(phrase)
            if not solicit and "solicit" in cats:
                solicit = phrase
            if not money and "money" in cats:
                money = phrase
        weight = w["lexicon"]
        for phrase in lexicon[:LEXICON_MAX_HITS]:
            out.append(Evidence("lexicon", phrase, weight / 2 if phrase in self._common else weight))
        if plain:
            # Plain text holds no contact, link, sum of money or other script: the phrases are all there is.
            if solicit:
                out.append(Evidence("solicit", solicit, w["solicit"]))
            if money:
                out.append(Evidence("money", money, w["money"]))
            return out
        if not money and _MONEY_HINT.search(norm) and (found := _MONEY_SUM.search(norm)):
            money = found.group(0)
        gate = _CONTACT_GATE.search(norm) or _CONTACT_GATE_CN.search(norm)
        if gate:
            bare = self._links(norm, out)
            self._contacts(text, bare, out)
        cyrillic = _CYRILLIC.search(norm)
        if gate or cyrillic:
            if _LETTERS.search(norm):
                if not solicit and (found := _SOLICIT_RE.search(norm)):
                    solicit = found.group(0)
                if not money and (found := _MONEY_RE.search(norm)):
                    money = found.group(0)
            if cyrillic and _LATIN.search(norm):
                for word in _WORD.findall(norm):
                    if len(word) > 3 and _LATIN.search(word) and _CYRILLIC.search(word):
                        out.append(Evidence("homoglyph", word, w["homoglyph"]))
                        break
        if solicit:
            out.append(Evidence("solicit", solicit.strip(), w["solicit"]))
        if money:
            out.append(Evidence("money", money.strip(), w["money"]))
        return out

    def _contacts(self, text: str, norm: str, out: list[Evidence]) -> None:
        w = self.weights
        evasion = ""
        digits_text = norm
        if _FULLWIDTH_OR_CIRCLED.search(text):
            evasion = "full-width digits"
        cn = _CN_NUMBER.search(text)
        if cn:
            evasion = evasion or cn.group(0)
            digits_text = norm + " " + cn.group(0).translate(_CN_DIGITS)
        phone = ""
        for m in _DIGIT_RUN.finditer(digits_text):
            run = m.group(0)
            if _DATE_LIKE.match(run):
                continue
            digits = re.sub(r"\D", "", run)
            mobile = _MOBILE.search(digits)
            if mobile and len(digits) <= 13:
                phone = mobile.group(0)
                if _SPACED.search(run):
                    evasion = evasion or run.strip()
                break
        contact = _CONTACT.search(norm)
        if contact:
            ev = _EVASIVE_WORD.search(norm)
            if ev and ev.start() <= contact.end():
                evasion = evasion or ev.group(0).strip()
            handle = contact.group("handle")
            if handle[0].isdigit() and _MOBILE.search(re.sub(r"\D", "", handle)) and not evasion:
                phone = phone or re.sub(r"\D", "", handle)  # "电话 138…": a phone number, not an IM handle
            else:
                out.append(Evidence("contact", contact.group(0).strip()[:40], w["contact"]))
                phone = ""  # the number is the handle already counted
        if phone:
            out.append(Evidence("phone", phone[:3] + "****" + phone[-4:], w["phone"]))
        if evasion:
            out.append(Evidence("evasion", evasion[:40], w["evasion"]))

    def _links(self, norm: str, out: list[Evidence]) -> str:
        """Add the link evidence; return the text with its links blanked (a link's path is not a contact)."""
        w = self.weights
        m = _URL.search(norm)
        if not m:
            return norm
        url = m.group(0)
        out.append(Evidence("link", url[:60], w["link"]))
        if any(s in norm for s in _SHORTENERS):
            out.append(Evidence("shortener", url[:60], w["shortener"]))
        if any(s in norm for s in _INVITES):
            out.append(Evidence("invite", url[:60], w["invite"]))
        return _URL.sub(" ", norm)
