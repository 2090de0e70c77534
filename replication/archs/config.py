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
