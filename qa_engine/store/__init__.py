"""Storage of interactions, every scoring run, reviews, appeals, audit log and API accounts.

Modules: `models` (tables), `db` (engine and sessions), `repository` (write path and queries),
`reviews` (reviews and appeals), `final_score`, `kpi` (summaries), `accounts` (users, API keys),
`assignments` (review assignment and sampling rules), `migrate` (Alembic from Python).
"""

from qa_engine.store.db import Database, database_url
from qa_engine.store.repository import EVERYTHING, Filters, Scope, content_hash, save_result

__all__ = ["Database", "database_url", "EVERYTHING", "Filters", "Scope", "content_hash", "save_result"]
