"""Streaming readers and writers, one module per file format."""
