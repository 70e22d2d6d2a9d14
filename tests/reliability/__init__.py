"""Reliability tests: real kills, leases, exactly-once commits, retry, resume, cancel."""
