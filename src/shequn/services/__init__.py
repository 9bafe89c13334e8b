"""The application services (应用服务): what each shequn process runs on top of the app, one module per part served.

Where each process lives:
    * **ingest** (every process that receives events: connectors, webhooks, imports): :meth:`shequn.app.App.ingest`,
      the one pipeline.
    * **live runtime** (``shequn run``): :mod:`.live` (connectors, their cursors, secrets, the operators' commands in
      admin groups); it drives the sender (:mod:`shequn.outbox`) and the scheduler (:mod:`shequn.schedule.service`).
    * **worker** (``shequn worker``, PostgreSQL): :mod:`.worker` (the engine per shard under leases) and
      :mod:`.scheduler` (the shard's scheduled jobs: rhythm, run-of-show, growth and selling passes).
    * **console and API** (``shequn serve``): :mod:`shequn.web` over :mod:`.console` (read models, segment actions,
      staff tasks, webhooks), :mod:`.accounts` (users, sessions, tokens, roles) and :mod:`.uploads` (import jobs).
    * **growth** (``shequn referral …``, the console, ``shequn run``'s periodic pass): :mod:`.growth` (invite links,
      settlement, live codes, campaigns) over the pure :mod:`shequn.growth`.
    * **shop** (``shequn shop …``, the console, the shop webhooks): :mod:`.shop` (products, orders, payments, coupons,
      commissions, measures) over the pure :mod:`shequn.commerce`.

The command line (:mod:`shequn.cli`) and the web (:mod:`shequn.web`) call these; nothing inside the core (``domain``,
``playbook``, ``policies``, ``engine``, ``store``, ``schedule``, ``outbox``, ``connectors``, ``importers``,
``analytics``) imports them (``tests/test_layers.py``).

May import: ``shequn.app`` and every package inside it; never ``shequn.cli`` or ``shequn.web``.
"""
