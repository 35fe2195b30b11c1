"""The one reader of a run directory: a `RunRecord` built from a run id.

A run directory (`<results>/<scale>/runs/<run id>`, written by tasks.train) holds `config.yaml`
(the closed run config), `metrics.jsonl` (one JSON record per line: kind train | valid | probe |
epoch ...), `eval.json` (the final scores), `status.json` (`ok` or `diverged`, with the step and
the failure detector's reason) and the task's own outputs (e.g. decoded text). Tables, claims,
figures, studies and the estimate read runs through this class only.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from catalog.runid import RunId
from catalog.words import RUN_STATUSES

STATUS_FORM = '{"status": "ok"|"diverged", "step": N, "reason": "..."} as written by tasks.train'


def read_json(path: str | Path, what: str):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); expected {what}") from None


def read_status(path: str | Path) -> dict:
    """A run's status.json, checked; a missing, malformed or incomplete file raises naming it."""
    data = read_json(path, f"the run status {STATUS_FORM}")
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object {STATUS_FORM}, got {type(data).__name__}")
    missing = [k for k in ("status", "step", "reason") if k not in data]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}; expected {STATUS_FORM}")
    if data["status"] not in RUN_STATUSES:
        raise ValueError(f"{path}: status {data['status']!r}; expected one of {list(RUN_STATUSES)}")
    if not isinstance(data["step"], int) or isinstance(data["step"], bool) or not isinstance(data["reason"], str):
        raise ValueError(f"{path}: step must be an integer and reason a string; expected {STATUS_FORM}")
    return data


def read_metrics(path: str | Path) -> list[dict]:
    """Records of a metrics.jsonl (empty list if the file does not exist)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValueError(f"{path}:{i}: not a JSON object; expected one JSON record per line") from None
    return rows


def finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


@dataclass
class RunRecord:
    """What one run wrote. `strict` (tables): a missing or malformed status.json or, for a run
    that ended ok, eval.json raises naming the file; otherwise (claims, figures) missing parts
    read as empty."""
    id: RunId | None  # None: a directory read without its run id (a study given --runs DIR)
    dir: Path
    strict: bool = True
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def read(cls, results: str | Path, scale: str, run_id: str | RunId, strict: bool = True) -> "RunRecord":
        rid = run_id if isinstance(run_id, RunId) else RunId.parse(str(run_id))
        return cls(rid, rid.run_dir(results, scale), strict)

    def _get(self, key: str, load):
        if key not in self._cache:
            try:
                self._cache[key] = load()
            except (OSError, ValueError, yaml.YAMLError):
                if self.strict:
                    raise
                self._cache[key] = None
        return self._cache[key]

    @property
    def status(self) -> dict:
        """{"status", "step", "reason"}; {} (lenient) when the run has not ended."""
        return self._get("status", lambda: read_status(self.dir / "status.json")) or {}

    @property
    def ok(self) -> bool:
        return self.status.get("status") == "ok"

    @property
    def diverged(self) -> bool:
        return self.status.get("status") == "diverged"

    @property
    def eval(self) -> dict:
        """eval.json of a run that ended ok (a diverged run has no scores: {})."""
        if self.status.get("status", "ok" if not self.strict else None) != "ok":
            return {}
        return self._get("eval", lambda: read_json(self.dir / "eval.json", "the run's evaluation results")) or {}

    @property
    def config(self) -> dict:
        return self._get("config", lambda: yaml.safe_load((self.dir / "config.yaml").read_text()) or {}) or {}

    @property
    def metrics(self) -> list[dict]:
        return self._get("metrics", lambda: read_metrics(self.dir / "metrics.jsonl")) or []

    def records(self, kind: str) -> list[dict]:
        return [r for r in self.metrics if r.get("kind") == kind]

    @property
    def probes(self) -> list[dict]:
        return self.records("probe")

    def lines(self, name: str) -> list[str] | None:
        """The lines of one of the task's output files in the run directory (None if absent)."""
        path = self.dir / name
        return path.read_text().splitlines() if path.is_file() else None

    def setting(self, section: str, key: str):
        """A value of the resolved run config (e.g. ("optim", "lr")), or None."""
        sec = self.config.get(section)
        return sec.get(key) if isinstance(sec, dict) else None
