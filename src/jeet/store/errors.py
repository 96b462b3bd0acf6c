"""The one exception family of the specimen store."""


class StoreError(RuntimeError):
    """The store cannot do what was asked: unreadable or foreign file, corruption, bad argument.

    The message is one line that names the database file when one is involved; the
    underlying sqlite3 or OS error, if any, is kept as ``__cause__``.
    """
