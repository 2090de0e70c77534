"""Network sizes (``profiles.<p>.network``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NetworkConfig:
    num_feat: int  # RRDBNet width (64)
    num_block: int  # RRDB blocks (23)
    num_grow_ch: int  # growth channels (32)
    disc_num_feat: int  # discriminator width (64)
    net_init: str  # weights-registry name to start Real-ESRNet from, or "scratch"

    def validate(self) -> None:
        for name in ("num_feat", "num_block", "num_grow_ch", "disc_num_feat"):
            if getattr(self, name) < 1:
                raise ValueError(f"network.{name} must be positive, got {getattr(self, name)}")
        if self.net_init != "scratch":
            from replication.archs.weights_registry import (
                REGISTRY,  # pure data, no side effects
            )

            entry = REGISTRY.get(self.net_init)
            if entry is None or entry.arch != "rrdbnet":
                known = ", ".join(n for n, e in REGISTRY.items() if e.arch == "rrdbnet")
                raise ValueError(
                    f"network.net_init: {self.net_init!r} is neither 'scratch' nor an RRDBNet weights name ({known})"
                )
            for name in ("num_feat", "num_block", "num_grow_ch"):
                if entry.hyperparameters[name] != getattr(self, name):
                    raise ValueError(
                        f"network.net_init: {self.net_init} has {name}={entry.hyperparameters[name]}, "
                        f"but network.{name} is {getattr(self, name)}"
                    )
