"""Probe calls every cfg.probes.every updates (models.probes; docs/ARCHITECTURE.md "Probes").

Probes run on a fixed batch (task.probe_batch) in eval mode, so they draw no random
numbers and a resumed run stays on the uninterrupted trajectory. grad_norms is read before
the optimizer step (the gradients exist then), update_norms across it.
"""
from __future__ import annotations

import torch
from models import probes
from models.scheme import get_scheme

from tasks.base import move_to
from tasks.config import RunConfig


class Prober:
    def __init__(self, cfg: RunConfig, task, device: torch.device):
        self.cfg = cfg.probes
        self.every = cfg.probes.every
        self.p = probes
        self.task = task
        self.batch = move_to(task.probe_batch(), device)
        schemes = [s for s in (cfg.model.encoder_scheme, cfg.model.decoder_scheme) if s]
        self.has_omega = any(get_scheme(s).admin_omega for s in schemes) or bool(cfg.model.omega)
        self._before = None

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def before_step(self, model, step: int) -> dict:
        """Called after backward, before optimizer.step, for the update that ends at `step`."""
        out = {}
        if not self.due(step):
            return out
        if self.cfg.grad_norms:
            out["grad_norms"] = self.p.grad_norms(model)
        if self.cfg.update_norms:
            self._before = {n: p.detach().clone() for n, p in model.named_parameters()}
        return out

    def after_step(self, model, step: int) -> dict:
        """Probes of the parameters after update `step` (step 0: at initialisation)."""
        if not self.due(step):
            return {}
        out = {}
        if self.cfg.update_norms and self._before is not None:
            out["update_norms"] = self.p.update_norms(self._before, model)
            self._before = None
        was_training = model.training
        model.eval()
        try:
            out.update(self._forward_probes(model))
        finally:
            model.train(was_training)
        return out

    def _forward_probes(self, model) -> dict:
        def run_forward(m=None):
            self.task.forward_for_probe(model if m is None else m, self.batch)

        out = {}
        with torch.no_grad():
            if self.cfg.entropy:
                out["entropy"] = self.p.attention_entropy(model, run_forward)
            if self.cfg.spectral:
                out["spectral"] = self.p.spectral_norms(model)
                out["qk_spectral"] = self.p.qk_spectral_norms(model)
            if self.cfg.omega and self.has_omega:
                out["omega"] = self.p.omega_stats(model)
        if self.cfg.dependency:
            out["dependency"] = self.p.residual_dependency(model, run_forward)
        return out
