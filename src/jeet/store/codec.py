"""How values are laid out inside the store: zstd for module bytes, msgpack+zstd for checkpoints, JSON for rows.

A module blob is one zstd frame, either plain or compressed against a dictionary; a blob made
with a dictionary names it twice: in the row (``specimens.dict_id``) and in the frame header
(zstd's own dictionary id), so a mismatch is an error, never wrong bytes.

Checkpoint state is packed with msgpack in strict-types mode so that tuples and integers
beyond 64 bits survive the round trip as themselves (``random.Random.getstate()`` is a
nested tuple and must come back as one to be accepted by ``setstate``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Mapping

import msgpack
import zstandard

from ..errors import StoreError

ZSTD_LEVEL = 9  # modules are small and written once; level 9 still compresses >10 MB/s

_EXT_TUPLE = 1
_EXT_BIGINT = 2


@dataclass(frozen=True, slots=True)
class Dictionary:
    """A stored compression dictionary: immutable once written, identified by its row id."""

    id: int
    function: str
    version: int
    data: bytes


class Codec:
    """Per-store compressor pair; zstd contexts are reused because creating one costs more than a small frame.

    Contexts bound to a dictionary are cached by dictionary id (a stored dictionary never changes).
    """

    def __init__(self, level: int = ZSTD_LEVEL) -> None:
        self.level = level
        self._c = zstandard.ZstdCompressor(level=level)
        self._d = zstandard.ZstdDecompressor()
        self._dict_c: dict[int, zstandard.ZstdCompressor] = {}
        self._dict_d: dict[int, zstandard.ZstdDecompressor] = {}

    def compress(self, data: bytes, dictionary: Dictionary | None = None) -> bytes:
        if dictionary is None:
            return self._c.compress(data)
        c = self._dict_c.get(dictionary.id)
        try:
            if c is None:
                c = self._dict_c[dictionary.id] = zstandard.ZstdCompressor(
                    level=self.level, dict_data=_zdict(dictionary.data)
                )
            return c.compress(data)
        except zstandard.ZstdError as e:
            raise StoreError(f"compression dictionary {dictionary.id} is unusable: {e}") from e

    def decompress(self, blob: bytes, dictionary: Dictionary | None = None) -> bytes:
        try:
            if dictionary is None:
                return self._d.decompress(blob)
            d = self._dict_d.get(dictionary.id)
            if d is None:
                d = self._dict_d[dictionary.id] = zstandard.ZstdDecompressor(dict_data=_zdict(dictionary.data))
            return d.decompress(blob)
        except zstandard.ZstdError as e:
            raise StoreError(f"stored blob is not valid zstd data: {e}") from e

    def pack_state(self, state: Mapping[str, Any]) -> bytes:
        try:
            packed = msgpack.packb(state, use_bin_type=True, strict_types=True, default=_ext_default)
        except (TypeError, ValueError, OverflowError) as e:
            raise StoreError(f"checkpoint state is not serialisable: {e}") from e
        return self.compress(packed)

    def unpack_state(self, blob: bytes) -> dict[str, Any]:
        try:
            return msgpack.unpackb(
                self.decompress(blob), raw=False, strict_map_key=False, ext_hook=_ext_hook, use_list=True
            )
        except (ValueError, TypeError, msgpack.ExtraData) as e:
            raise StoreError(f"stored checkpoint cannot be decoded: {e}") from e


def _zdict(data: bytes) -> zstandard.ZstdCompressionDict:
    try:
        return zstandard.ZstdCompressionDict(data, dict_type=zstandard.DICT_TYPE_FULLDICT)
    except zstandard.ZstdError as e:
        raise StoreError(f"stored compression dictionary is damaged: {e}") from e


def _ext_default(obj: Any) -> Any:
    if isinstance(obj, tuple):
        return msgpack.ExtType(
            _EXT_TUPLE, msgpack.packb(list(obj), use_bin_type=True, strict_types=True, default=_ext_default)
        )
    if isinstance(obj, int) and not isinstance(obj, bool):
        if type(obj) is not int:  # IntEnum and friends: keep the value
            return int(obj)
        return msgpack.ExtType(_EXT_BIGINT, str(obj).encode())
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, (bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, list):
        return list(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_TUPLE:
        return tuple(msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=_ext_hook, use_list=True))
    if code == _EXT_BIGINT:
        return int(data.decode())
    return msgpack.ExtType(code, data)


def dumps_json(value: Any) -> str:
    """Compact, key-sorted JSON; dataclasses are stored as their field dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)
    except (TypeError, ValueError) as e:
        raise StoreError(f"value is not JSON-serialisable: {e}") from e


def loads_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)
