"""Commerce (变现, 成交): pure decisions about selling in communities.

Owns: offers and their prices (cohorts with early-bird and rising prices, flash sales with stock, group-buy
thresholds, presale and crowdfunding with a goal and tiers, the member-only first batch) in :mod:`.offers`; the order
ledger that checks shop deliveries (unknown order, duplicate, wrong amount) in :mod:`.ledger`; coupons in
:mod:`.coupons`; distributor commissions, the value ladder and revenue by monetization mode in :mod:`.revenue`;
resource matching for 赚钱型 and 行业型 communities in :mod:`.matching`.
May import: ``domain``, ``playbook``, ``i18n``. Money is always integer minor units (fen) with an ISO 4217 currency.
"""

from __future__ import annotations
