"""Reply inference (回复推断): which earlier message a message answers, when the export does not say.

Some exports carry no reply links (WeChat text dumps, IRC logs). Then a message's parent is inferred by rules an
operator would use reading the chat, in this order:

1. **addressed**: the message names someone (an @-mention, or ``nick:`` at the start) who spoke in the last 30
   minutes → their latest message;
2. **answer to a call**: someone else addressed this speaker in the last 30 minutes → that message;
3. **continuation**: the previous message in the group is the speaker's own, under 2 minutes earlier → that one;
4. **adjacency**: otherwise the latest message by someone else in the last 10 minutes.

Accuracy is measured against the gold reply links of the Ubuntu IRC disentanglement data (``tests/data/irc/dev``)
by ``tests/analytics/test_replies.py``; the README gives the figure.

May import: ``duckdb``.
"""

from __future__ import annotations

import duckdb

ADDRESS_MS = 30 * 60_000
CONTINUE_MS = 2 * 60_000
ADJACENT_MS = 10 * 60_000


def infer(con: duckdb.DuckDBPyConnection, source: str, target: str) -> None:
    """Create table ``target(g, seq, parent)`` from ``source(g, seq, p, at_ms, addr)``; ``addr`` is the person the
    message addresses (or NULL). ``seq`` orders messages; ``parent`` is NULL where no rule applies."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {target} AS
        WITH s AS (SELECT g, seq, p, at_ms, addr,
                          lag(seq) OVER w AS prev_seq, lag(p) OVER w AS prev_p, lag(at_ms) OVER w AS prev_at
                   FROM {source} WINDOW w AS (PARTITION BY g ORDER BY seq)),
             addressed AS (
                 SELECT s.seq, max(o.seq) AS parent FROM s JOIN {source} o
                     ON o.g = s.g AND o.p = s.addr AND o.seq < s.seq AND o.at_ms >= s.at_ms - {ADDRESS_MS}
                 WHERE s.addr IS NOT NULL AND s.addr <> s.p GROUP BY s.seq),
             called AS (
                 SELECT s.seq, max(o.seq) AS parent FROM s JOIN {source} o
                     ON o.g = s.g AND o.addr = s.p AND o.p <> s.p AND o.seq < s.seq
                        AND o.at_ms >= s.at_ms - {ADDRESS_MS}
                 GROUP BY s.seq),
             adjacent AS (
                 SELECT s.seq, max(o.seq) AS parent FROM s JOIN {source} o
                     ON o.g = s.g AND o.p <> s.p AND o.seq < s.seq AND o.at_ms >= s.at_ms - {ADJACENT_MS}
                 GROUP BY s.seq)
        SELECT s.g, s.seq,
               coalesce(a.parent, c.parent,
                        CASE WHEN s.prev_p = s.p AND s.at_ms - s.prev_at <= {CONTINUE_MS} THEN s.prev_seq END,
                        j.parent) AS parent
        FROM s LEFT JOIN addressed a ON a.seq = s.seq LEFT JOIN called c ON c.seq = s.seq
             LEFT JOIN adjacent j ON j.seq = s.seq"""
    )
