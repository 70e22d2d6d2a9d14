"""Writing the user's own tables: upserts in each database's dialect, PostgreSQL's COPY
path, and what a column can hold. Kinds hand the store a prepared write from here."""
