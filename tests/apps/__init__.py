"""Small job-type modules the tests load by name (``--app tests.apps.people``)."""
