"""Game knowledge as data: RAM maps, button sets, action sets, and the RAM decoder."""

from sf2rl.core.game.actions import ACTION_SETS, Action, ActionEncoder, get_action_set
from sf2rl.core.game.spec import Category, Decoder, Field, GameSpec, GameState, PlayerState
from sf2rl.core.game.specs import GAMES, get_game

__all__ = [
    "ACTION_SETS",
    "GAMES",
    "Action",
    "ActionEncoder",
    "Category",
    "Decoder",
    "Field",
    "GameSpec",
    "GameState",
    "PlayerState",
    "get_action_set",
    "get_game",
]
