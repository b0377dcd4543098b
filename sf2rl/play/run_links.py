"""Links between the `sf2rl watch` mosaic and the MLflow runs whose matches it shows.

A sweep's envs label their frames with their trial's name, which is also the name of the
trial's MLflow run. So the mosaic can name each tile's run and link to its page, and each run
being watched gets the mosaic's address as a tag (removed again when the mosaic stops).
Lookups are cached and retried at most every ``RETRY_S``, so a missing or slow store costs the
page nothing.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from mlflow.tracking import MlflowClient

from sf2rl.core.tags import TAG_KIND, WATCH_TAG

log = logging.getLogger(__name__)

LABEL = re.compile(r"[A-Za-z0-9_.,=-]{1,160}")
"""What a label may be (it comes off the wire and goes into an MLflow filter): a file-safe trial name."""

RETRY_S = 10.0
"""How long a label with no run is left before it is looked up again (its trial's run may not exist yet)."""


@dataclass(frozen=True)
class RunLink:
    """The MLflow run a stream's label names."""

    run_id: str
    name: str
    url: str


def store_exists(uri: str) -> bool:
    """False for an sqlite store whose file is missing (opening it would create an empty one)."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :]).exists()
    return True


class RunLinks:
    """Label (a trial's name) -> the trial's MLflow run; tags each found run with the mosaic's URL."""

    def __init__(self, tracking_uri: str, ui_url: str, watch_url: str) -> None:
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self.ui_url = ui_url.rstrip("/")
        self.watch_url = watch_url
        self._found: dict[str, RunLink] = {}
        self._missed: dict[str, float] = {}

    def link(self, label: str) -> RunLink | None:
        """The run of ``label``, found once (the first time, its run is tagged with the mosaic's URL)."""
        if label in self._found:
            return self._found[label]
        if not LABEL.fullmatch(label):
            return None
        if time.monotonic() - self._missed.get(label, -RETRY_S) < RETRY_S:
            return None
        try:
            found = self._lookup(label)
        except Exception as e:  # the store is down or unreadable: the mosaic goes on without links
            log.warning("could not look up the MLflow run of %s: %s", label, e)
            found = None
        if found is None:
            self._missed[label] = time.monotonic()
            return None
        self._found[label] = found
        return found

    def _lookup(self, label: str) -> RunLink | None:
        experiments = [e.experiment_id for e in self.client.search_experiments()]
        if not experiments:
            return None
        runs = self.client.search_runs(
            experiments,
            f"attributes.run_name = '{label}' and tags.`{TAG_KIND}` = 'trial'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        if not runs:
            return None
        run = runs[0]
        self.client.set_tag(run.info.run_id, WATCH_TAG, self.watch_url)
        url = f"{self.ui_url}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
        return RunLink(run.info.run_id, run.info.run_name or label, url)

    def close(self) -> None:
        """Take the mosaic's URL off the runs it tagged: the mosaic is gone."""
        for found in self._found.values():
            try:
                self.client.delete_tag(found.run_id, WATCH_TAG)
            except Exception as e:  # the run or store went away first
                log.warning("could not untag run %s: %s", found.run_id, e)
        self._found.clear()
