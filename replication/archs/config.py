"""Generator and discriminator sizes (``profiles.<p>.network``).

``arch`` picks the generator: ``rrdbnet`` (the paper's RRDBNet; sizes ``num_block``/``num_grow_ch``)
or ``srvgg`` (SRVGGNetCompact, the Real-ESRGAN repository's compact generator; sizes
``num_conv``/``act_type``). The keys of the other architecture must be absent, so a profile never
carries a size that nothing reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ARCH_KEYS = {"rrdbnet": ("num_block", "num_grow_ch"), "srvgg": ("num_conv", "act_type")}


@dataclass(frozen=True)
class NetworkConfig:
    arch: Literal["rrdbnet", "srvgg"]
    num_feat: int  # generator width (RRDBNet 64; SRVGG 64)
    disc_num_feat: int  # discriminator width (64)
    net_init: str  # weights-registry name to start Real-ESRNet from, or "scratch"
    num_block: int | None = None  # rrdbnet: RRDB blocks (23)
    num_grow_ch: int | None = None  # rrdbnet: growth channels (32)
    num_conv: int | None = None  # srvgg: body convolutions (16 in realesr-animevideov3, 32 in general-x4v3)
    act_type: Literal["prelu", "relu", "lrelu"] | None = None  # srvgg activation (official: prelu)

    def validate(self) -> None:
        for key in ARCH_KEYS[self.arch]:
            if getattr(self, key) is None:
                raise ValueError(f"{key}: missing key (required by arch {self.arch})")
        for other, keys in ARCH_KEYS.items():
            for key in keys:
                if other != self.arch and getattr(self, key) is not None:
                    raise ValueError(f"{key}: only used by arch {other}, but arch is {self.arch}")
        for name in ("num_feat", "disc_num_feat", "num_block", "num_grow_ch"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        if self.num_conv is not None and self.num_conv < 0:
            raise ValueError(f"num_conv must be >= 0, got {self.num_conv}")
        # Whether net_init names weights of this architecture and sizes: replication.params_check
        # (params --check), so the trainer does not depend on the weights registry.

    def generator_hyperparameters(self) -> dict:
        """Keyword sizes for ``build_arch(self.arch, ...)`` (channels and scale excluded)."""
        return {"num_feat": self.num_feat, **{key: getattr(self, key) for key in ARCH_KEYS[self.arch]}}

    def describe(self) -> str:
        """One line for reports, e.g. 'RRDBNet 64 features x 23 blocks'."""
        if self.arch == "rrdbnet":
            return f"RRDBNet ({self.num_feat} features × {self.num_block} blocks)"
        return f"SRVGGNetCompact ({self.num_feat} features × {self.num_conv} convs, {self.act_type})"
