"""Exceptions with messages a user can act on. The CLI maps UsageError to exit code 2."""


class BabelsafeError(Exception):
    """Base class for errors babelsafe reports to users."""


class UsageError(BabelsafeError):
    """The user asked for something invalid (unknown name, bad file, missing key): exit code 2."""


class DataError(UsageError):
    """A dataset file or row is malformed; the message names the file, line and problem."""
