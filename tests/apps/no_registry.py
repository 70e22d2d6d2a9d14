"""An app module that declares no job types (for the ConfigurationError path)."""

GREETING = "hello"
