"""The one exception root for user mistakes."""


class LtsError(Exception):
    """Bad input from the user: a file, a value, a model bundle.

    The CLI prints its message as one line and exits with status 2; the message says what
    was wrong and what to do.
    """
