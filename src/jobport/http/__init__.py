"""What the HTTP API and the dashboard share: auth, uploads, downloads, live feeds, problems.

Both faces build on these pieces and on :mod:`jobport.service`; neither
imports the other.
"""
