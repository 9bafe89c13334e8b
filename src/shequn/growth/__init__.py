"""Growth (裂变, 活码, 矩阵, 复制): pure decisions about how communities grow by their members.

Owns: referral attribution, the referral tree, fraud checks and leaderboards with periodic settlement
(:mod:`.referral`); live-code routing (:mod:`.livecode`); group-fill campaigns, the AB-group method and the upgrade
path of community levels (:mod:`.campaigns`); the benchmark-group programme of replication (:mod:`.programme`).
May import: ``domain``, ``playbook``, ``i18n``. No I/O: callers (``operations``, ``cli``, ``bench``) read the store
and hand plain records in.
"""

from __future__ import annotations
