"""The error base the CLI turns into one sentence and exit status 2 (no traceback)."""


class OperatorError(Exception):
    """Bad input or configuration: the message says what and how to fix it, never a value
    that could be personal data."""
