"""The one training loop for every task.

An update sums the losses of `train.update_freq` micro-batches (per rank), then divides the
gradients by the total number of units (tokens or samples) over all of them and all ranks,
as fairseq does: update_freq=2 at half the batch equals the full batch. Ordinary steps keep
every statistic on the device; the host reads them only at log steps. Checkpoints after
an update capture the data position, optimizer, schedule position and RNG states, so a
resumed run continues the same trajectory (bit-identical on CPU).
"""
from __future__ import annotations

import itertools
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from tasks.base import move_to
from common.io import atomic_write_text
from tasks.config import ConfigError, RunConfig
from tasks.engine import checkpoint as ckpt
from tasks.engine import distributed as ddp
from tasks.engine import lock
from tasks.engine.data import make_loader, rank_batches
from tasks.engine.divergence import DivergenceMonitor, planned_updates
from tasks.engine.logging import MetricsLogger, peak_memory_mb, reset_logs, truncate_metrics
from tasks.engine.optim import build_optimizer, set_lr
from tasks.engine.schedules import build_schedule
from tasks.registry import build_task

EXIT_OK, EXIT_RESUME = 0, 75
STOP_CHECK_EVERY = 10  # updates between the ranks' agreement on a stop request (DDP only)


class StopFlag:
    """Set by the SIGTERM/SIGUSR1 handler; the loop checkpoints after the current update."""

    def __init__(self):
        self.requested = False


@dataclass
class Progress:
    epoch: int = 1  # 1-based, as fairseq's checkpoint{epoch}.pt
    batch: int = 0  # global batches of this epoch already consumed
    updates: int = 0
    best_valid: float = math.inf
    epoch_starts: dict = field(default_factory=lambda: {1: 0})  # epoch -> update count at its start
    over_bound: int = 0
    chance_checked: bool = False
    window: list = field(default_factory=list)  # the unlogged part of the log window
    window_steps: int = 0
    # The lr of the last update and the loss and units logged in this epoch: a resume with no
    # update left before the epoch end logs the window and the epoch summary from them.
    # (Checkpoints without them resume with the defaults.)
    last_lr: float = math.nan
    epoch_sums: list = field(default_factory=lambda: [0.0, 0.0])


class Trainer:
    def __init__(self, cfg: RunConfig, run_dir: Path, stop: StopFlag | None = None):
        self.cfg, self.run_dir, self.stop = cfg, Path(run_dir), stop or StopFlag()
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.dist = ddp.setup()
        self.device = self.dist.device
        self.task = build_task(cfg)
        seed_everything(cfg.seed)
        self.model = self.task.build_model().to(self.device)
        if cfg.model.omega:  # Admin: the omega profile of the admin_profile step (or admin_torch)
            from models.admin import load_omega

            load_omega(self.model, cfg.model.omega)
        self.optimizer = build_optimizer(self.model, cfg.optim, self.device)
        self.schedule = build_schedule(cfg)
        self.progress = Progress()
        self._resume()
        self.net = ddp.wrap_ddp(self.model, self.dist)
        self.monitor = DivergenceMonitor(cfg.divergence, self.task.chance_loss, self.device,
                                         self.progress.over_bound, self.progress.chance_checked,
                                         planned=planned_updates(cfg, self.task, self.dist.world),
                                         warmup=cfg.schedule.warmup_updates, state=self._monitor_state)
        self.prober = None
        if cfg.probes.every > 0:
            from tasks.engine.probing import Prober

            self.prober = Prober(cfg, self.task, self.device)
        self.logger = MetricsLogger(self.run_dir, self.dist.is_main, cfg.train.max_updates,
                                    self.progress.updates, cfg.train.tensorboard)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self._reset_window()
        if self.progress.window:  # a resume inside a log window continues that window
            self.window = torch.tensor(self.progress.window, device=self.device)
            self.window_steps = self.progress.window_steps
        self.t0 = time.perf_counter()

    # ---- state -------------------------------------------------------------------------
    def _resume(self) -> None:
        """Take the run lock, then continue from the newest readable checkpoint, or start from
        update 0 with the run's old logs emptied (and say so): records of a run that is being
        redone must not be read as part of the new one."""
        self._monitor_state = None
        if self.dist.is_main:
            lock.acquire(self.run_dir)  # held until the process ends (tasks/engine/lock.py)
            ckpt.clean_stray_temps(self.ckpt_dir)
        state = ckpt.load_resume_state(self.ckpt_dir) if self.ckpt_dir.exists() else None
        if state is None:
            if self.dist.is_main:
                reset = reset_logs(self.run_dir)
                if reset:
                    print(f"warning: no readable checkpoint in {self.ckpt_dir}: training {self.run_dir} from "
                          f"update 0; emptied the old logs {', '.join(reset)}", file=sys.stderr, flush=True)
            return
        saved, current = state.get("config"), self.cfg.to_dict()
        if saved is not None and saved != current:
            changed = sorted(key for key in set(saved) | set(current) if saved.get(key) != current.get(key))
            raise ConfigError(f"the checkpoints in {self.ckpt_dir} were written under another run config "
                              f"(sections that differ: {', '.join(changed)}); resuming would mix two runs. "
                              f"`python -m tasks.train` moves such a run aside and retrains; or delete {self.run_dir}.")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.progress = Progress(**state["progress"])
        self._monitor_state = state.get("divergence")
        ckpt.set_rng_state(state["rng"])
        if self.dist.is_main:
            pr = self.progress
            dropped = truncate_metrics(self.run_dir / "metrics.jsonl", pr.updates, pr.epoch, pr.window_steps)
            if dropped:
                print(f"dropped {dropped} metrics record(s) written after the checkpoint of update {pr.updates}",
                      file=sys.stderr, flush=True)

    def _state(self) -> dict:
        self.progress.over_bound = self.monitor.over_bound
        self.progress.chance_checked = self.monitor.chance_checked
        self.progress.window, self.progress.window_steps = self.window.tolist(), self.window_steps
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "progress": asdict(self.progress), "rng": ckpt.rng_state(), "config": self.cfg.to_dict()}

    def _save_last(self, epoch_done: int | None = None, best: bool = False) -> None:
        """checkpoint_last.pt; at an epoch end (`epoch_done`) checkpoint{N}.pt first (and
        checkpoint_best.pt), then last: see tasks/engine/checkpoint.py, crash safety."""
        if not self.dist.is_main:
            return
        state = {**self._state(), "divergence": self.monitor.state()}
        if epoch_done is None:
            ckpt.save_last(state, self.ckpt_dir)
        else:
            ckpt.save_epoch_end(state, self.ckpt_dir, epoch_done, self.cfg.train.keep_epoch_checkpoints, best)

    # ---- the loop ----------------------------------------------------------------------
    def run(self) -> int:
        """Train to the end (or to a stop request); returns the process exit code."""
        try:
            return self._run()
        finally:
            self.logger.close()
            ddp.teardown()

    def _run(self) -> int:
        pr = self.progress
        if self.prober is not None and pr.updates == 0 and pr.batch == 0:
            self._log_probes(self.prober.after_step(self.model, 0))
        while not self._finished():
            t_epoch, updates_before = time.perf_counter(), pr.updates
            for micro in self._epoch_updates():
                if self._finished():
                    break
                outcome = self.step(micro)
                if outcome is not None:
                    return outcome
            else:  # the epoch ran out of batches
                if pr.updates == updates_before and pr.batch == 0:
                    raise RuntimeError(f"task {self.cfg.task!r} produced no training batches for epoch "
                                       f"{pr.epoch} (world size {self.dist.world}); check data.dir and the task's batch size")
                result = self._end_epoch(t_epoch)
                if result is not None:
                    return result
        return self._finish()

    def _finished(self) -> bool:
        t, pr = self.cfg.train, self.progress
        return (t.max_updates > 0 and pr.updates >= t.max_updates) or (t.max_epochs > 0 and pr.epoch > t.max_epochs)

    def _epoch_updates(self):
        """Lists of update_freq micro-batches of this rank, resuming after progress.batch.

        Only this rank's batches after the resume point are built (tasks.engine.data)."""
        pr, d, uf, dc = self.progress, self.dist, self.cfg.train.update_freq, self.cfg.data
        plan = rank_batches(self.task.epoch_batches(pr.epoch), d.rank, d.world, pr.batch)
        mine = iter(make_loader(self.task, plan, pr.epoch, dc.workers, dc.prefetch, self.device.type == "cuda"))
        while True:
            micro = list(itertools.islice(mine, uf))
            if not micro:
                return
            yield micro

    def step(self, micro: list[dict]) -> int | None:
        """One optimizer update over `micro`; an exit code when the run must end now."""
        pr, d = self.progress, self.dist
        self.net.train()
        sums = torch.zeros(3, device=self.device)  # loss, nll, units over micro-batches
        for j, batch in enumerate(micro):
            batch = move_to(batch, self.device)
            with ddp.no_sync(self.net, skip=j < len(micro) - 1):
                with ddp.autocast(self.cfg.train.precision, self.device):
                    loss, logs = self.task.loss(self.net, batch)
                loss.backward()
            sums += torch.stack([loss.detach().float(), _as_tensor(logs["nll_sum"], self.device),
                                 _as_tensor(logs["units"], self.device)])
        ddp.all_reduce_sum(sums, d.world)
        grads = [p.grad for p in self.params if p.grad is not None]
        # DDP averages gradients over ranks; undo that and normalise by all units.
        torch._foreach_mul_(grads, d.world / sums[2].clamp(min=1.0))
        clip = self.cfg.optim.clip_norm
        gnorm = (torch.nn.utils.clip_grad_norm_(self.params, clip) if clip > 0
                 else torch.nn.utils.get_total_norm(grads))
        lr = self.schedule.lr(pr.updates, pr.epoch, pr.epoch_starts)
        set_lr(self.optimizer, lr)
        pr.last_lr = lr
        probe_out = self.prober.before_step(self.model, pr.updates + 1) if self.prober else {}
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        pr.updates += 1
        pr.batch += len(micro) * d.world
        self.monitor.track(pr.updates, sums[0], gnorm)
        self.window += torch.cat([sums, gnorm.detach().float().reshape(1)])
        self.window_steps += 1
        self.logger.advance()
        if self.prober is not None:
            probe_out.update(self.prober.after_step(self.model, pr.updates))
            self._log_probes(probe_out)
        return self._after_update(lr)

    def _after_update(self, lr: float) -> int | None:
        pr, t = self.progress, self.cfg.train
        if pr.updates % t.log_every == 0 or self._finished():
            diverged = self._log_window(lr)
            if diverged is not None:
                return self._diverged(*diverged)
        if self._stop_requested():
            self._save_last()
            if self.dist.is_main:
                print(f"stop requested: checkpoint written at update {pr.updates}; exit {EXIT_RESUME} (resume me)",
                      flush=True)
            return EXIT_RESUME
        if pr.updates % t.checkpoint_every == 0:
            self._save_last()
        return None

    def _stop_requested(self) -> bool:
        if self.dist.world == 1:
            return self.stop.requested
        # Every rank must stop at the same update: agree every STOP_CHECK_EVERY updates (one tiny
        # collective and host read), so a stop signal is honoured well before the job is killed.
        if self.progress.updates % min(self.cfg.train.log_every, STOP_CHECK_EVERY) != 0:
            return False
        flag = torch.tensor([float(self.stop.requested)], device=self.device)
        ddp.all_reduce_sum(flag, self.dist.world)
        return flag.item() > 0

    def _reset_window(self) -> None:
        self.window = torch.zeros(4, device=self.device)  # sums of loss, nll, units, grad norm
        self.window_steps = 0
        self.window_t = time.perf_counter()

    def _log_window(self, lr: float) -> tuple[int, str] | None:
        """Write the train record of the window since the last log step; check divergence."""
        w = self.window.tolist()  # the one host sync of a log step
        units = max(w[2], 1.0)
        loss, nll = w[0] / units, w[1] / units
        now = time.perf_counter()
        pr = self.progress
        self.logger.log({"kind": "train", "step": pr.updates, "epoch": pr.epoch, "loss": loss, "nll": nll,
                         "lr": lr, "grad_norm": w[3] / max(self.window_steps, 1),
                         "units_per_s": w[2] / max(now - self.window_t, 1e-9), "units": w[2],
                         "peak_mem_mb": peak_memory_mb(self.device), "time": now - self.t0})
        pr.epoch_sums = [pr.epoch_sums[0] + w[0], pr.epoch_sums[1] + w[2]]
        self._reset_window()
        return self.monitor.check(pr.updates, loss, nll)

    def _log_probes(self, out: dict) -> None:
        if out:
            self.logger.log({"kind": "probe", "step": self.progress.updates, "epoch": self.progress.epoch, **out})

    def _end_epoch(self, t_epoch: float) -> int | None:
        pr, t = self.progress, self.cfg.train
        if self.window_steps:
            diverged = self._log_window(pr.last_lr)
            if diverged is not None:
                return self._diverged(*diverged)
        epoch, epoch_loss = pr.epoch, pr.epoch_sums[0] / max(pr.epoch_sums[1], 1.0)
        valid = self._validate() if epoch % t.validate_every_epochs == 0 else None
        self._close_epoch(valid)
        self.logger.epoch_summary(epoch, pr.updates, epoch_loss, valid, time.perf_counter() - t_epoch)
        if self._stop_requested():
            return EXIT_RESUME
        return None

    def _close_epoch(self, valid: dict | None) -> None:
        """Count the current epoch as done and write its epoch-end checkpoints."""
        pr = self.progress
        is_best = valid is not None and valid["valid_loss"] < pr.best_valid
        if is_best:
            pr.best_valid = valid["valid_loss"]
        epoch = pr.epoch
        pr.epoch, pr.batch, pr.epoch_sums = epoch + 1, 0, [0.0, 0.0]  # saved as "next epoch, nothing logged"
        pr.epoch_starts[epoch + 1] = pr.updates
        self._save_last(epoch_done=epoch, best=is_best)

    def _validate(self) -> dict:
        self.model.eval()
        with torch.no_grad(), ddp.autocast(self.cfg.train.precision, self.device):
            valid = {k: float(v) for k, v in self.task.valid_loss(self.model).items()}
        self.model.train()
        self.logger.log({"kind": "valid", "step": self.progress.updates, "epoch": self.progress.epoch, **valid})
        return valid

    # ---- the end -----------------------------------------------------------------------
    def _diverged(self, step: int, reason: str) -> int:
        if self.dist.is_main:
            print(f"run diverged at update {step}: {reason}", flush=True)
            _write_json(self.run_dir / "eval.json",
                        {"computed": False, "reason": f"not computed because the run diverged ({reason})",
                         "step": step})
            _write_json(self.run_dir / "status.json", {"status": "diverged", "step": step, "reason": reason})
        return EXIT_OK

    def _finish(self) -> int:
        """Final checkpoint, eval on the averaged last epoch checkpoints, eval.json, status.json."""
        pr = self.progress
        late = self.monitor.at_end()  # exploding at the last log step, before the patience ran out
        if late is not None:
            return self._diverged(*late)
        if not self.dist.is_main:
            return EXIT_OK
        if pr.batch > 0:
            # Stopped by max_updates inside an epoch: validate and keep that partial epoch too; the
            # checkpoint then counts it as done, so a resume from it does not validate it again.
            self._close_epoch(self._validate())
        else:
            self._save_last()
        averaged = self._load_final_weights()
        self.model.eval()
        with torch.no_grad():
            scores = self.task.final_eval(self.model, self.run_dir)
        scores = {"computed": True, **scores, "averaged_checkpoints": averaged, "step": pr.updates}
        _write_json(self.run_dir / "eval.json", scores)
        _write_json(self.run_dir / "status.json", {"status": "ok", "step": pr.updates, "reason": ""})
        return EXIT_OK

    def _load_final_weights(self) -> list[str]:
        k = self.cfg.train.avg_last
        epochs = ckpt.epoch_checkpoints(self.ckpt_dir)
        if k > 1 and len(epochs) >= k:
            chosen = epochs[-k:]
            self.model.load_state_dict(ckpt.average_checkpoints(chosen))
            return [p.name for p in chosen]
        return []


def train(cfg: RunConfig, run_dir: Path, stop: StopFlag | None = None) -> int:
    """Train `cfg` in `run_dir` (resuming if it holds checkpoints); the exit code."""
    return Trainer(cfg, run_dir, stop).run()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _as_tensor(x, device: torch.device) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().float().reshape(())
    return torch.tensor(float(x), device=device)


def _write_json(path: Path, obj: dict) -> None:
    from tasks.engine.logging import jsonable

    atomic_write_text(path, json.dumps(jsonable(obj), indent=2) + "\n")
