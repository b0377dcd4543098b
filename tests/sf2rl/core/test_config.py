"""Env options: bad values get errors that list what is valid; generated docs stay in sync."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sf2rl.core.config import EnvConfig
from sf2rl.env.environment import SF2Env
from sf2rl.tools.docgen import main as docgen_main

BAD = [
    ({"reward": {"name": "vibes"}}, "valid: \\['damage_dealt'"),
    ({"action_set": "all"}, "valid: \\['minimal', 'seed', 'specials'\\]"),
    ({"obs": "audio"}, "'ram' or 'pixels'"),
    ({"game": "tekken"}, "valid: \\['airstriker-genesis'"),
    ({"difficulty": 0}, "CPU level from 1 to 8"),
    ({"difficulty": [3, 9]}, "CPU level from 1 to 8"),
    ({"characters": ["ryu", "akuma"]}, "unknown character 'akuma'"),
    ({"frame_skip": 4, "reaction_delay": 4}, "reaction_delay"),
    ({"backend": "http://x"}, "tcp:// endpoint"),
    ({"backend": "retro"}, "does not run on backend retro"),
    ({"frameskip": 4}, "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("options", "message"), BAD)
def test_bad_options_are_explained(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SF2Env(**options)


def test_generated_references_are_in_sync() -> None:
    assert docgen_main(["--check"]) == 0, "run `python -m sf2rl.tools.docgen` and commit docs/"


def test_reaction_delay_holds_the_previous_action() -> None:
    env = SF2Env(EnvConfig(frame_skip=8, reaction_delay=3, action_set="seed"))
    env.reset(seed=0)
    first = env.segments(1, True)
    second = env.segments(2, True)
    assert first[0].p1 == 0 and first[0].frames == 3
    assert second[0].p1 == first[-1].p1 and second[0].frames == 3
    assert sum(s.frames for s in second) == 8
