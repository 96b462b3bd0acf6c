"""The error the command line turns into one clear line and exit status 2."""


class JeetError(Exception):
    """A problem with what the user gave jeet (a file, a module, an export, a config), not a bug."""
