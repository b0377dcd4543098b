"""Action sets: sizes, no opposing directions, macros, and masks per facing."""

from __future__ import annotations

import pytest

from emulator_worker.sim import BUTTONS
from sf2rl.core.game.actions import ACTION_SETS, ActionEncoder, get_action_set
from sf2rl.core.game.specs import SNES_BUTTONS


def test_seed_set_is_the_talks_63_actions() -> None:
    seed = ACTION_SETS["seed"]
    assert len(seed) == 63
    assert len({a.name for a in seed}) == 63
    assert all(not a.is_macro for a in seed)


@pytest.mark.parametrize("name", sorted(ACTION_SETS))
def test_no_action_sends_opposing_directions(name: str) -> None:
    enc = ActionEncoder(ACTION_SETS[name], SNES_BUTTONS, BUTTONS)
    bit = {b: 1 << BUTTONS.index(b) for b in BUTTONS}
    for i in range(len(ACTION_SETS[name])):
        for facing in (True, False):
            for mask in enc.beats(i, facing):
                assert not (mask & bit["Left"] and mask & bit["Right"])
                assert not (mask & bit["Up"] and mask & bit["Down"])


def test_forward_follows_facing() -> None:
    actions = ACTION_SETS["seed"]
    enc = ActionEncoder(actions, SNES_BUTTONS, BUTTONS)
    fwd = next(i for i, a in enumerate(actions) if a.name == "forward")
    assert enc.beats(fwd, True) == (1 << BUTTONS.index("Right"),)
    assert enc.beats(fwd, False) == (1 << BUTTONS.index("Left"),)


def test_specials_add_motion_macros() -> None:
    specials = ACTION_SETS["specials"]
    macros = [a for a in specials if a.is_macro]
    assert {a.name for a in macros} == {"fireball-lp", "fireball-hp", "uppercut-lp", "uppercut-hp"}
    enc = ActionEncoder(specials, SNES_BUTTONS, BUTTONS)
    i = next(i for i, a in enumerate(specials) if a.name == "fireball-hp")
    down, right, hp = (1 << BUTTONS.index(b) for b in ("Down", "Right", "L"))
    assert enc.beats(i, True) == (down, down | right, right | hp)


def test_unknown_action_set_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="valid: \\['minimal', 'seed', 'specials'\\]"):
        get_action_set("everything")


def test_encoder_rejects_a_backend_without_the_buttons() -> None:
    with pytest.raises(ValueError, match="backend lacks buttons"):
        ActionEncoder(ACTION_SETS["seed"], SNES_BUTTONS, ("A", "B"))
