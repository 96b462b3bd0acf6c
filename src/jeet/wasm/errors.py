"""The one exception family of the codec."""


class WasmError(ValueError):
    """A malformed or unsupported module. Always names the byte offset and the reason."""

    def __init__(self, offset: int, reason: str) -> None:
        self.offset = offset
        self.reason = reason
        super().__init__(f"offset {offset:#x}: {reason}")
