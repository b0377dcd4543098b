"""Live progress of a sweep: a rich table of trials (status, iteration, return, win rate)."""

from __future__ import annotations

from typing import Any

from ray.tune import Callback
from rich.console import Console
from rich.live import Live
from rich.table import Table

from sf2rl.sweep.tracking import trial_params


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class ProgressTable(Callback):
    """Tune callback that redraws one table per update (or prints lines when not on a terminal)."""

    def __init__(self, metric: str, console: Console | None = None) -> None:
        self.metric = metric
        self.console = console or Console(stderr=True)
        self.rows: dict[str, dict[str, Any]] = {}
        self.live: Live | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"metric": self.metric, "rows": self.rows, "console": None, "live": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.console = Console(stderr=True)

    def table(self) -> Table:
        """The current table."""
        t = Table(title="sf2rl sweep", expand=False)
        for col in ("trial", "status", "iter", "return", "win rate", self.metric, "params"):
            t.add_column(col, overflow="fold")
        for name, row in sorted(self.rows.items()):
            t.add_row(
                name,
                row.get("status", ""),
                _fmt(row.get("iter", 0)),
                _fmt(row.get("return", "-")),
                _fmt(row.get("win_rate", "-")),
                _fmt(row.get("metric", "-")),
                row.get("params", ""),
            )
        return t

    def _update(self, trial: Any, **fields: Any) -> None:
        row = self.rows.setdefault(
            str(trial), {"params": " ".join(f"{k}={_fmt(v)}" for k, v in trial_params(trial.config).items())}
        )
        row.update(fields)
        if self.console.is_terminal:
            if self.live is None:
                self.live = Live(self.table(), console=self.console, refresh_per_second=4, transient=False)
                self.live.start()
            self.live.update(self.table())

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """A trial started."""
        self._update(trial, status="RUNNING")

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        """A trial reported an iteration."""
        fields = {
            "iter": result.get("training_iteration", 0),
            "return": result.get("episode_return_mean"),
            "win_rate": result.get("win_rate"),
            "metric": result.get(self.metric),
        }
        self._update(trial, **fields)
        if not self.console.is_terminal:
            self.console.print(
                f"{trial} iter {fields['iter']}: return {_fmt(fields['return'])} win rate {_fmt(fields['win_rate'])}"
            )

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """A trial finished."""
        self._update(trial, status="TERMINATED")

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        """A trial failed."""
        self._update(trial, status="ERROR")

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        """Leave the final table on screen."""
        if self.live is not None:
            self.live.stop()
            self.live = None
