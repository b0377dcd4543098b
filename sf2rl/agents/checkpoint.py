"""Trained checkpoints as policies: restored for light inference, checked against the env they meet.

A checkpoint records the env options it trained with; loading it against an env
checks that action set, obs mode, action count and obs shape agree. Policies load from
the checkpoint's sf2rl policy export (:mod:`sf2rl.agents.export`: weights and JSON), never
from RLlib's pickles, unless the user says a checkpoint is their own
(``SF2RL_TRUST_PICKLED_CHECKPOINTS=1``, for checkpoints from before the export existed).
RLlib and torch are imported only when a module is actually restored.
"""

from __future__ import annotations

import functools
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from sf2rl.agents.baselines import BASELINES, RandomPolicy, Seat
from sf2rl.agents.export import TRUST_PICKLES, export_dir, load_module, recorded_env
from sf2rl.agents.policy import Policy
from sf2rl.core.config import EnvConfig
from sf2rl.core.defaults import ENV_KEY
from sf2rl.core.errors import CheckpointError
from sf2rl.core.game.actions import ACTION_SETS, get_action_set
from sf2rl.core.game.spec import GameState
from sf2rl.env.environment import spaces

log = logging.getLogger(__name__)
MODULE_SUBDIR = Path("learner_group") / "learner" / "rl_module" / "default_policy"
"""Where RLlib keeps the module inside an algorithm checkpoint."""


def module_path(checkpoint: str | Path) -> Path:
    """The RL module folder inside an algorithm checkpoint (or the folder itself if it is one)."""
    root = Path(checkpoint)
    if not root.exists():
        raise CheckpointError(f"checkpoint {root} does not exist")
    if export_dir(root) is not None:
        return root
    for candidate in (root / MODULE_SUBDIR, root):
        if (candidate / "module_state.pt").exists() or (candidate / "class_and_ctor_args.pkl").exists():
            return candidate
    raise CheckpointError(f"{root} is not an RLlib checkpoint (no {MODULE_SUBDIR})")


class CheckpointPolicy:
    """A trained RLModule restored from a checkpoint, greedy on its Q-values (no Algorithm, no Ray runtime)."""

    needs_ram = 0

    def __init__(self, path: Path, module: Any = None, recorded: EnvConfig | None = None) -> None:
        from ray.rllib.core.rl_module.rl_module import RLModule

        path = path.resolve()  # RLlib reads checkpoints through pyarrow, which wants absolute paths
        self.path = path
        self.name = _label(path)
        if module is None and (exported := export_dir(path)) is not None:
            module = load_module(exported)
        elif module is None:
            if not trusts_pickles():
                raise CheckpointError(
                    f"{path} has no sf2rl policy export ({path.name}/sf2rl_policy); loading RLlib's pickled module "
                    f"would run code from the file. If the checkpoint is your own, from an sf2rl that wrote no "
                    f"exports, set {TRUST_PICKLES}=1"
                )
            # RLlib warns about its own internal RLModuleConfig on every restore; nothing a user can act on.
            quiet = logging.getLogger("ray._common.deprecation")
            level = quiet.level
            quiet.setLevel(logging.ERROR)
            try:
                module = RLModule.from_checkpoint(module_path(path))
            finally:
                quiet.setLevel(level)
            module.eval()
        self.module = module
        self.env_config = recorded if recorded is not None else recorded_env_config(path)
        self.obs_shape = tuple(self.module.observation_space.shape)
        self.n_actions = int(self.module.action_space.n)
        self.action_set = self.env_config.action_set if self.env_config else _set_with(self.n_actions)

    def reset(self, seed: int | None = None) -> None:
        """Greedy inference keeps no state."""

    def q_values(self, obs: np.ndarray) -> np.ndarray | None:
        """The module's Q-values for one observation."""
        import torch

        batch = {"obs": torch.as_tensor(np.asarray(obs, np.float32)[None])}
        with torch.no_grad():
            if hasattr(self.module, "compute_q_values"):
                return self.module.compute_q_values(batch)["qf_preds"][0].numpy()
        return None

    def act(self, obs: np.ndarray, state: GameState, *, ram: np.ndarray | None = None, player: int = 0) -> int:
        """The greedy action."""
        q = self.q_values(obs)
        if q is not None:
            return int(np.argmax(q))
        import torch

        with torch.no_grad():
            out = self.module.forward_inference({"obs": torch.as_tensor(np.asarray(obs, np.float32)[None])})
        return int(out["actions"][0])

    def fork(self) -> Policy:
        """Shares the module: inference is read-only."""
        return CheckpointPolicy(self.path, self.module, self.env_config)


def _label(path: Path) -> str:
    parts = path.resolve().parts
    return "/".join(parts[-2:]) if len(parts) >= 2 else str(path)


def _set_with(n: int) -> str:
    matches = [name for name, acts in ACTION_SETS.items() if len(acts) == n]
    return matches[0] if len(matches) == 1 else f"<{n} actions>"


@functools.lru_cache(maxsize=64)
def _recorded(root: str, mtime: float) -> EnvConfig | None:
    ctor = Path(root) / "class_and_ctor_args.pkl"
    if not ctor.exists() or not (Path(root) / MODULE_SUBDIR).exists():
        return None  # a bare RLModule checkpoint: only its spaces are known

    try:
        with ctor.open("rb") as f:
            data = pickle.load(f)  # the user's own checkpoint; RLlib itself unpickles these files too
        args, kwargs = data["ctor_args_and_kwargs"]
        config = args[0] if args else kwargs.get("config")
        env_config = config.get("env_config") if isinstance(config, dict) else getattr(config, "env_config", None)
        recorded = (env_config or {}).get(ENV_KEY)
    except Exception as e:  # an unreadable or foreign checkpoint still loads; it is just not cross-checked
        log.warning("could not read the env config recorded in %s: %s", root, e)
        return None
    if not recorded:
        return None
    unknown = sorted(set(recorded) - set(EnvConfig.model_fields))
    if unknown:  # written by another sf2rl version: compare what both know
        log.warning("checkpoint %s records env options this version does not know: %s", root, unknown)
    return EnvConfig(**{k: v for k, v in recorded.items() if k in EnvConfig.model_fields})


def trusts_pickles() -> bool:
    """Whether the user allowed loading checkpoints from RLlib's pickles (their own, older checkpoints)."""
    return os.environ.get(TRUST_PICKLES, "") == "1"


def recorded_env_config(checkpoint: str | Path) -> EnvConfig | None:
    """The env options a checkpoint was trained with (from its export, else the trial's saved config), if known."""
    root = Path(checkpoint)
    if (exported := export_dir(root)) is not None:
        return recorded_env(exported)
    if not trusts_pickles():
        return None
    ctor = root / "class_and_ctor_args.pkl"
    return _recorded(str(root.resolve()), ctor.stat().st_mtime if ctor.exists() else 0.0)


def newest_checkpoint(folder: str | Path) -> Path | None:
    """The most recently written complete algorithm checkpoint anywhere under ``folder``.

    A checkpoint is complete once its policy export's note is in place: the trial writes it
    last, atomically, after RLlib's own files. One still being written (or cut short by a crash)
    is passed over for an older complete one. Only where no checkpoint has an export (written
    before exports existed, or to remote storage) does the newest RLlib marker count.
    """
    complete: list[tuple[float, str, Path]] = []
    legacy: list[tuple[float, str, Path]] = []
    for marker in Path(folder).rglob("rllib_checkpoint.json"):
        try:  # Tune deletes old checkpoints (checkpoint.keep) while we look
            if (marker.parent / MODULE_SUBDIR).is_dir():
                entry = (marker.stat().st_mtime, str(marker.parent), marker.parent)
                (complete if export_dir(marker.parent) is not None else legacy).append(entry)
        except OSError:
            continue
    found = complete or legacy
    return max(found)[2] if found else None


def resolve_checkpoint(source: str | Path) -> Path:
    """A checkpoint folder, or the newest checkpoint under a folder of them (e.g. a trial's)."""
    path = Path(source).expanduser()
    if not path.exists():
        raise CheckpointError(
            f"no checkpoint at {path}, and {str(source)!r} is not a baseline; pass a checkpoint folder "
            f"(e.g. from `sf2rl best`) or one of the baselines: {', '.join(BASELINES)}"
        )
    try:
        module_path(path)
        return path
    except CheckpointError:
        newest = newest_checkpoint(path)
        if newest is None:
            raise CheckpointError(f"{path} is not an RLlib checkpoint and holds none (no {MODULE_SUBDIR})") from None
        return newest


def check_compatible(policy: CheckpointPolicy, env: EnvConfig, seat: Seat = "agent") -> None:
    """Raise CheckpointError naming every option in which the checkpoint and the env disagree."""
    rec = policy.env_config
    problems: list[str] = []
    if rec is not None and rec.game != env.game:
        problems.append(f"game: checkpoint {rec.game!r}, env {env.game!r}")
    if seat == "agent":
        obs_space, act_space = spaces(env)
        if rec is not None:
            if rec.action_set != env.action_set:
                n_rec, n_env = len(get_action_set(rec.action_set)), len(get_action_set(env.action_set))
                problems.append(
                    f"action set: checkpoint {rec.action_set!r} ({n_rec} actions), env {env.action_set!r} ({n_env})"
                )
            if rec.obs != env.obs:
                problems.append(f"obs mode: checkpoint {rec.obs!r}, env {env.obs!r}")
        if policy.n_actions != act_space.n:
            problems.append(
                f"action count: checkpoint {policy.n_actions}, env {act_space.n} (action set {env.action_set!r})"
            )
        if policy.obs_shape != obs_space.shape:
            problems.append(f"obs shape: checkpoint {policy.obs_shape}, env {obs_space.shape} (obs {env.obs!r})")
        fix = []
        if any(p.startswith(("action", "game")) for p in problems):
            fix.append(f"--set action_set={rec.action_set if rec else policy.action_set}")
        if any(p.startswith("obs") for p in problems):
            fix.append(f"--set obs={rec.obs if rec else 'ram' if len(policy.obs_shape) == 1 else 'pixels'}")
        hint = f"use the options it was trained with ({' '.join(fix)})"
    else:
        ram_shape = spaces(env.model_copy(update={"obs": "ram"}))[0].shape
        if rec is not None and rec.obs != "ram":
            problems.append(f"obs mode: checkpoint {rec.obs!r}, but an opponent sees the RAM features ('ram')")
        elif policy.obs_shape != ram_shape:
            problems.append(f"obs shape: checkpoint {policy.obs_shape}, opponent RAM features {ram_shape}")
        if policy.action_set not in ACTION_SETS:
            problems.append(f"action count: checkpoint {policy.n_actions} matches no action set")
        hint = "an opponent must be a RAM-observation checkpoint of the same game"
    if problems:
        raise CheckpointError(f"checkpoint {policy.path} does not match the env: {'; '.join(problems)}; {hint}")


class RefreshingPolicy:
    """The newest checkpoint under a folder, reloaded every N matches (self-play against recent selves)."""

    def __init__(self, folder: Path, env_config: EnvConfig, every: int) -> None:
        self.folder = folder
        self.env_config = env_config
        self.every = every
        self.matches = 0
        self.current: Policy = RandomPolicy("seed")
        self.loaded: Path | None = None
        self._refresh()

    @property
    def needs_ram(self) -> int:
        """The loaded policy's RAM needs."""
        return self.current.needs_ram

    @property
    def name(self) -> str:
        """The loaded checkpoint's label."""
        return self.current.name

    @property
    def action_set(self) -> str:
        """The loaded checkpoint's action set."""
        return self.current.action_set

    def _refresh(self) -> None:
        newest = newest_checkpoint(self.folder)
        if newest is None or newest == self.loaded:
            return
        try:
            policy = CheckpointPolicy(newest)
            check_compatible(policy, self.env_config, "opponent")
        except Exception as e:  # a checkpoint still being written: keep the current opponent, retry later
            log.warning("keeping opponent %s; could not load %s: %s", self.current.name, newest, e)
            return
        self.current, self.loaded = policy, newest

    def reset(self, seed: int | None = None) -> None:
        """Count matches; reload the newest checkpoint every ``every`` of them."""
        self.matches += 1
        if self.every and self.matches % self.every == 0:
            self._refresh()
        self.current.reset(seed)

    def act(self, obs: np.ndarray, state: GameState, *, ram: np.ndarray | None = None, player: int = 0) -> int:
        """The loaded policy's action."""
        return self.current.act(obs, state, ram=ram, player=player)

    def q_values(self, obs: np.ndarray) -> np.ndarray | None:
        """The loaded policy's Q-values."""
        return self.current.q_values(obs)

    def fork(self) -> Policy:
        """Forks share nothing mutable but the folder."""
        return RefreshingPolicy(self.folder, self.env_config, self.every)
