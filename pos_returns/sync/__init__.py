"""The till's link with HQ (PostgreSQL): push the outbox, pull the chain's data.

``run_sync`` does one round: push the outbox (each document idempotent by
uuid; a return HQ refuses as an over-return comes back ``conflict`` and is
recorded in ``sync_conflicts`` for the manager's review), raise the journal's
chain head at HQ, then pull every table of :data:`PULL_TABLES` incrementally.

The pull cursor (docs/sync.md): every HQ row carries ``txid``, the id of the HQ
transaction that last wrote it. A pull runs in one REPEATABLE READ transaction
whose first statement takes the fence ``pg_snapshot_xmin(pg_current_snapshot())``:
every transaction below the fence has ended, so every row with ``txid < fence``
that will ever exist is visible now. The pull reads, per table, the rows with
``(txid, key) > cursor AND txid < fence`` in ``(txid, key)`` order, in batches;
each batch is written to SQLite in one transaction together with the new cursor
(the last row's ``(txid, key)``). A row committed out of order has a txid at or
above the fence of any pull that ran before it committed, so it is read later:
nothing is skipped, and a killed sync resumes from the last committed batch
without duplicates.

Adding a pulled table is one line in :data:`PULL_TABLES`: the columns copied are
those that HQ and the local table have in common.

psycopg is imported lazily: a till without HQ never needs it.
"""

