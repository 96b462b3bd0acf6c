"""The one exception family of the codec."""


class WasmError(ValueError):
    """A malformed or unsupported module. Always names the byte offset and the reason.

    `offset` is -1 when the error is not about input bytes (a module built in memory that
    cannot be encoded or validated).
    """

    def __init__(self, offset: int, reason: str) -> None:
        self.offset = offset
        self.reason = reason
        super().__init__(f"offset {offset:#x}: {reason}" if offset >= 0 else reason)
