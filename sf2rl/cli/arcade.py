"""`sf2rl arcade`: play a trained agent in the browser, or watch agents play each other."""

from __future__ import annotations

import argparse
import time
from typing import Any

from sf2rl.agents.checkpoint import CheckpointPolicy
from sf2rl.agents.factory import load_policy
from sf2rl.agents.policy import Policy
from sf2rl.cli.console import console
from sf2rl.core.config import EnvConfig
from sf2rl.core.errors import ConfigError
from sf2rl.core.game.specs import get_game
from sf2rl.env.environment import SF2Env
from sf2rl.play.arcade import AgentSide, Booth, HumanPad, Side
from sf2rl.play.arcade_server import ArcadeServer


def trained_config(policy: Policy) -> EnvConfig:
    """The env a policy acts in: a checkpoint's recorded one, else the defaults with its action set."""
    recorded = policy.env_config if isinstance(policy, CheckpointPolicy) else None
    cfg = recorded or EnvConfig(action_set=policy.action_set)
    if cfg.obs != "ram":
        raise ConfigError(f"{policy.name} sees pixels; the arcade's agents decide from RAM features (obs: ram)")
    if cfg.game != "sim":
        raise ConfigError(f"{policy.name} was trained on {cfg.game}; the arcade runs the simulator")
    return cfg


def build(args: argparse.Namespace) -> tuple[Booth, HumanPad | None]:
    """The booth the arguments ask for: you against the CPU, you against an agent, two agents, or a bracket."""
    game = get_game("sim")
    for name in (args.character, args.opponent_character):
        if name not in game.characters:
            raise ConfigError(f"unknown character {name!r}; one of {', '.join(game.characters)}")
    if not 1 <= args.level <= 8:
        raise ConfigError(f"--level must be 1-8, got {args.level}")
    if args.reaction_frames is not None and not 1 <= args.reaction_frames <= 120:
        raise ConfigError(f"--reaction-frames must be 1-120, got {args.reaction_frames}")
    env = SF2Env(EnvConfig(frame_skip=1, max_episode_steps=10**9))
    env.reset(seed=args.seed)  # opens the console, whose buttons the sides map to
    agents: list[Side] = []
    for source in args.agents:
        policy = load_policy(source)
        agents.append(AgentSide(policy, env, trained_config(policy), args.reaction_frames))
    chars = (args.character, args.opponent_character)
    if len(agents) <= 1:
        pad = HumanPad(env)
        return Booth(env, pad, agents[0] if agents else None, characters=chars, difficulty=args.level,
                     seed=args.seed), pad  # fmt: skip
    if len(agents) == 2:
        return Booth(env, agents[0], agents[1], characters=chars, seed=args.seed), None
    return Booth(env, agents[0], agents[1], characters=chars, bracket=agents, seed=args.seed), None


def run(args: argparse.Namespace) -> int:
    """`sf2rl arcade`."""
    booth, pad = build(args)
    server = ArcadeServer(booth, pad, args.host, args.port).start()
    names = " vs ".join(booth.names)
    console.print(f"arcade: {names} on [bold]{server.url}[/bold]   (Ctrl-C to stop)")
    if pad is not None:
        console.print("keys: arrows move, A S D punch, Z X C kick (light, medium, heavy); a gamepad works too")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    wins = ", ".join(f"{n} {w}" for n, w in booth.tally.wins.items()) or "no match finished"
    console.print(f"tally after {booth.tally.matches} match(es): {wins}")
    return 0


def register(sub: Any) -> None:
    """Add `sf2rl arcade`."""
    p = sub.add_parser(
        "arcade",
        help="play an agent in the browser (keyboard or gamepad), or watch agents play",
        description="No agent: you against the game's CPU. One: you against it. Two: they play each other. "
        "Three or more: a single-elimination bracket, as at the talk's booth. Agents are checkpoint folders "
        "or baseline names.",
    )
    p.add_argument("agents", nargs="*", metavar="CHECKPOINT", help="checkpoint folders or baseline names")
    p.add_argument("--character", default="ryu", help="player 1's character (yours)")
    p.add_argument("--opponent-character", default="ken", help="player 2's character")
    p.add_argument(
        "--reaction-frames",
        type=int,
        help="frames between an agent's decisions (default its frame_skip; the talk used 20)",
    )
    p.add_argument("--level", type=int, default=3, help="the CPU's level 1-8 when you play the CPU")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--port", type=int, default=8770, help="port of the page (0: any free one)")
    p.add_argument("--host", default="127.0.0.1", help="address the page listens on (loopback by default)")
    p.set_defaults(func=run)
