"""Save states: exact restore, self-contained bytes, and clean rejection of bad bytes."""

from __future__ import annotations

import random
import struct
import zlib

import numpy as np
import pytest

from emulator_worker.sim import SF2Sim, SimStateError


def _busy_sim(seed: int = 2) -> SF2Sim:
    sim = SF2Sim(seed)
    sim.reset(seed=seed, characters=(1, 2), difficulty=7)
    rng = random.Random(seed)
    for _ in range(400):
        sim.step(rng.randrange(1 << 12), 0, frames=3)
    return sim


def _trace(sim: SF2Sim, seed: int, steps: int) -> list[np.ndarray]:
    rng = random.Random(seed)
    out = []
    for _ in range(steps):
        sim.step(rng.randrange(1 << 12), 0, frames=2)
        out.append(sim.ram())
    out.append(sim.frame())
    return out


def test_load_after_save_restores_exactly_and_play_continues_identically() -> None:
    sim = _busy_sim()
    data = sim.save_state()
    assert isinstance(data, bytes)
    expected = _trace(sim, 1, 1500)
    sim.load_state(data)
    again = _trace(sim, 1, 1500)
    assert all(np.array_equal(a, b) for a, b in zip(expected, again, strict=True))


def test_state_is_self_contained_across_instances() -> None:
    sim = _busy_sim()
    data = sim.save_state()
    other = SF2Sim(seed=12345)
    other.reset(characters=(4, 4), difficulty=1, two_player=True)
    other.load_state(data)
    assert np.array_equal(other.ram(), sim.ram())
    assert other.save_state() == data
    assert all(np.array_equal(a, b) for a, b in zip(_trace(sim, 8, 800), _trace(other, 8, 800), strict=True))


def _assert_rejected_and_unchanged(sim: SF2Sim, bad: object) -> None:
    before_ram = sim.ram()
    before_state = sim.save_state()
    with pytest.raises(SimStateError):
        sim.load_state(bad)  # type: ignore[arg-type]
    assert np.array_equal(sim.ram(), before_ram)
    assert sim.save_state() == before_state


def _reseal(body: bytes) -> bytes:
    """Recompute the trailing CRC so that only the semantic checks can reject."""
    return body + struct.pack("<I", zlib.crc32(body))


def test_corrupt_truncated_and_foreign_bytes_are_rejected_without_change() -> None:
    sim = _busy_sim()
    good = sim.save_state()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x40
    cases: list[object] = [
        b"",
        b"garbage",
        good[:-1],
        good[:40],
        good + b"\0",
        bytes(flipped),
        b"X" + good[1:],
        "not bytes",
        None,
    ]
    for bad in cases:
        _assert_rejected_and_unchanged(sim, bad)
    assert issubclass(SimStateError, ValueError)


def test_wrong_version_is_rejected() -> None:
    sim = _busy_sim()
    good = sim.save_state()
    body = bytearray(good[:-4])
    struct.pack_into("<H", body, 8, 999)
    _assert_rejected_and_unchanged(sim, _reseal(bytes(body)))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (0, -1),  # frame counter
        (1, 7),  # match phase (0..3)
        (3, 0),  # round number (1-based)
        (6, 9),  # CPU difficulty (1..8)
        (9, 100),  # round timer (0..99)
    ],
)
def test_out_of_range_fields_are_rejected_even_with_a_valid_checksum(field: int, value: int) -> None:
    sim = _busy_sim()
    body = bytearray(sim.save_state()[:-4])
    header = 14  # magic (8) + version (2) + payload length (4)
    struct.pack_into("<q", body, header + 8 * field, value)
    _assert_rejected_and_unchanged(sim, _reseal(bytes(body)))
