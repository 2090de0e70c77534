"""Errors caused by the user's input or environment: the CLI prints them without a traceback."""


class UserError(Exception):
    """Bad input, missing file, bad parameter or unreachable resource. The message says which."""


class UsageError(UserError):
    """A command-line value is invalid (exit status 2, like argparse's own usage errors)."""
