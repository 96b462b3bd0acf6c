"""Training zstd dictionaries on a function's stored population, and deciding from measurements whether one helps.

Evolved variants of one function share almost all their bytes, so a dictionary trained on a
population compresses its relatives to a fraction of their plain zstd size. A candidate is
trained on half of the samples and measured on the other half, never on what it was trained
on, and adopted only when it saves more than it costs (its own bytes included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import zstandard

MIN_SAMPLES = 32          # fewer specimens than this: zstd's trainer has too little to find shared content
MAX_SAMPLES = 512         # specimens of a function used for training and measurement (half newest, half spread)
RETRAIN_AFTER = 8         # a new dictionary is tried once this many times its training samples have arrived
MAX_RETRY_WAIT = 4096     # specimens a function waits, at most, after a try that adopted nothing
MIN_GAIN = 0.10           # adopt only when the held-out bytes shrink by at least this fraction
MIN_DICT_BYTES = 1024
MAX_DICT_BYTES = 112 * 1024  # zstd's recommended ceiling for dictionaries


@dataclass(frozen=True, slots=True)
class TrainedDictionary:
    """A candidate dictionary and what it did on the held-out half of the samples."""

    data: bytes
    zstd_id: int
    samples: int          # samples it was trained on
    held_out: int         # samples it was measured on
    plain_bytes: int      # held-out samples compressed without a dictionary
    dict_bytes: int       # held-out samples compressed with this dictionary

    @property
    def gain(self) -> float:
        return 1.0 - self.dict_bytes / self.plain_bytes if self.plain_bytes else 0.0


def train(samples: Sequence[bytes], level: int) -> TrainedDictionary | None:
    """Train on the even-indexed samples and measure on the odd-indexed ones; None when zstd cannot train.

    The dictionary gets an eighth of the training bytes (within zstd's recommended range); zstd's
    trainer picks its own segment parameters.
    """
    if len(samples) < MIN_SAMPLES:
        return None
    fit, held = list(samples[0::2]), list(samples[1::2])
    plain = zstandard.ZstdCompressor(level=level)
    plain_bytes = sum(len(plain.compress(x)) for x in held)
    size = min(MAX_DICT_BYTES, max(MIN_DICT_BYTES, sum(len(x) for x in fit) // 8))
    try:
        zd = zstandard.train_dictionary(size, fit, level=level)
    except zstandard.ZstdError:
        return None  # too little or too uniform data
    c = zstandard.ZstdCompressor(level=level, dict_data=zd)
    dict_bytes = sum(len(c.compress(x)) for x in held)
    return TrainedDictionary(zd.as_bytes(), zd.dict_id(), len(fit), len(held), plain_bytes, dict_bytes)


def measure(samples: Sequence[bytes], level: int, data: bytes | None) -> int:
    """Bytes the samples take compressed with `data` as dictionary (None: plain zstd)."""
    if data is None:
        c = zstandard.ZstdCompressor(level=level)
    else:
        c = zstandard.ZstdCompressor(level=level, dict_data=zstandard.ZstdCompressionDict(data))
    return sum(len(c.compress(x)) for x in samples)


def worth_adopting(candidate: TrainedDictionary, reference_bytes: int, population: int) -> bool:
    """Whether `candidate` beats the current way of compressing (`reference_bytes` on the same held-out
    samples) by `MIN_GAIN`, and its savings over the function's `population` pay for its own bytes."""
    if candidate.held_out == 0 or reference_bytes <= 0:
        return False
    if candidate.dict_bytes > (1.0 - MIN_GAIN) * reference_bytes:
        return False
    saved_per_specimen = (reference_bytes - candidate.dict_bytes) / candidate.held_out
    return saved_per_specimen * population > len(candidate.data)
