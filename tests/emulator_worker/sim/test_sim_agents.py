"""The scripted players: the CPU as an agent on either side, and the heuristic baseline."""

from __future__ import annotations

import random

import numpy as np
import pytest

from emulator_worker.sim import CpuAgent, HeuristicAgent, SF2Sim, cpu_action


def cpu_match(level1: int, level2: int, seed: int) -> int:
    sim = SF2Sim(seed)
    sim.reset(seed=seed, characters=(0, 0), two_player=True)
    p1, p2 = CpuAgent(level1, seed * 2 + 1), CpuAgent(level2, seed * 2 + 2)
    while not sim.match_over:
        sim.step(p1(sim, 0), p2(sim, 1))
    return int(sim.ram()[0x001B])


def test_level_8_beats_level_1_from_either_side() -> None:
    assert [cpu_match(8, 1, seed) for seed in range(3)] == [1, 1, 1]
    assert [cpu_match(1, 8, seed) for seed in range(3)] == [2, 2, 2]


def test_cpu_agent_reads_ram_or_sim_alike() -> None:
    a, b = SF2Sim(1), SF2Sim(1)
    for sim in (a, b):
        sim.reset(seed=1, two_player=True)
    agent_a, agent_b = CpuAgent(6, 9), CpuAgent(6, 9)
    for _ in range(2500):
        ma, mb = agent_a(a, 1), agent_b(b.ram(), 1)
        assert ma == mb
        a.step(0, ma)
        b.step(0, mb)
    assert np.array_equal(a.ram(), b.ram())


@pytest.mark.parametrize("rng", [5, np.int64(5), random.Random(5), np.random.default_rng(5)])
def test_cpu_agent_accepts_seeds_and_generators(rng: object) -> None:
    sim = SF2Sim()
    sim.reset(two_player=True)
    agent = CpuAgent(8, rng, frames_per_call=4)
    for _ in range(200):
        mask = agent(sim.ram(), 1)
        assert 0 <= mask < 1 << 12
        sim.step(0, mask, 4)
    assert 0 <= cpu_action(sim, 1, 3, 7) < 1 << 12
    with pytest.raises(ValueError):
        CpuAgent(9)
    with pytest.raises(ValueError):
        CpuAgent(3, "seed")


def test_heuristic_agent_zones_with_fireballs_over_a_whole_match() -> None:
    sim = SF2Sim(2)
    sim.reset(seed=2, characters=(0, 1), difficulty=3)
    agent = HeuristicAgent()
    moves = set()
    while not sim.match_over:
        ram = sim.ram()
        moves.add(int(ram[0x0504]))
        sim.step(agent(ram, 0), 0, 4)
    assert 20 in moves  # hadouken
    assert int(sim.ram()[0x001B]) in (1, 2, 3)


def test_heuristic_agent_uppercuts_a_jump_in() -> None:
    sim = SF2Sim()
    sim.reset(two_player=True)
    agent = HeuristicAgent()
    sim.step(0, 0, 60)
    sim.step(0, 4, 30)  # P2 walks in (it faces left), then jumps
    moves = set()
    for i in range(20):
        ram = sim.ram()
        moves.add(int(ram[0x0504]))
        sim.step(agent(ram, 0), 1 if i < 2 else 0, 4)
    assert 21 in moves  # shoryuken
