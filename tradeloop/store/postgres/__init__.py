"""The PostgreSQL store (``TRADELOOP_DB=postgresql://...``): the same tables, migrations numbered
like SQLite's, and the same store interfaces, driven by asyncpg. Reads share the SQLite store's
portable SQL (``store.rows``); writes are asyncpg transactions of their own."""
