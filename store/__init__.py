"""Persistent store: firms, policies, verdicts, runs, API keys and the audit log.

One interface (:class:`store.store.Store`) over two real backends through SQLAlchemy:
an embedded SQLite file (the default, ``policy_match.db`` in the working directory) and
PostgreSQL (``POLICY_MATCH_DATABASE_URL=postgresql://…``). The schema is versioned with
Alembic (``store/migrations``); other packages add their tables with new revisions.
"""

from store.store import Store, open_store
from store.url import DATABASE_URL_ENV, DEFAULT_DATABASE_URL, database_url

__all__ = ["DATABASE_URL_ENV", "DEFAULT_DATABASE_URL", "Store", "database_url", "open_store"]
