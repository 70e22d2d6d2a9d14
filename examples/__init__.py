"""Example applications that embed jobport (each has its own tests, run by the suite)."""
