"""A small bookshop: its own FastAPI app, SQLAlchemy models and staff API keys, embedding jobport.

It stands for an existing application that adds imports, exports, a sync
and a report without giving up anything of its own: jobport's API and
dashboard are mounted under ``/jobs``, its staff sign in with the shop's
keys, and every job type writes to or reads from the shop's own tables
through the shop's own engine. See ``README.md`` here and ``docs/embedding.md``.
"""
