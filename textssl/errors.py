"""The one exception type that the command line turns into a single-line message."""


class UserError(Exception):
    """Bad input from the user: a path, a file, a line, a key or an option.

    The message names the offending thing; the CLI prints ``error: <message>`` and exits 2.
    """
