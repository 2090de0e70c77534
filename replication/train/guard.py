"""The paper-scale guard: a ``real_scale`` profile must train as the paper did, or say where it does not.

The paper trained both phases with a total batch of 48 (12 per GPU x 4 GPUs) in fp32. Here the total
batch of one optimizer step is processes x ``batch_size`` x ``accumulation``, so 1 x 12 x 4, 2 x 12 x 2,
4 x 12 x 1 and 8 x 6 x 1 all train the paper's batch. When a ``real_scale: true`` profile is trained with
another total batch or in reduced precision, the trainer refuses unless ``--allow-deviation`` is given;
the departures are then written into the model's JSON sidecar (``paper_scale_deviations``) so the report
can print them.
"""

from __future__ import annotations

from replication.errors import UserError

PAPER_TOTAL_BATCH = 48  # 12 per GPU x 4 GPUs, both phases (train_realesr{net,gan}_x4plus.yml)
PAPER_PRECISION = "fp32"


def paper_scale_deviations(
    *, real_scale: bool, world_size: int, batch_size: int, amp: str, accumulation: int = 1
) -> list[str]:
    """How this run departs from the paper's batch and precision ([] for profiles not at paper scale)."""
    if not real_scale:
        return []
    out = []
    total = world_size * batch_size * accumulation
    if total != PAPER_TOTAL_BATCH:
        split = f"{world_size} process(es) x batch_size {batch_size}"
        if accumulation != 1:
            split += f" x accumulation {accumulation}"
        out.append(f"total batch {total} ({split}), not the paper's {PAPER_TOTAL_BATCH} (12 per GPU x 4 GPUs)")
    precision = "fp32" if amp == "none" else amp
    if precision != PAPER_PRECISION:
        out.append(f"precision {precision}, not the paper's {PAPER_PRECISION}")
    return out


def check_paper_scale(deviations: list[str], allow: bool, profile: str) -> None:
    """Refuse a real-scale run that departs from the paper, unless the caller allowed it."""
    if deviations and not allow:
        raise UserError(
            f"profile {profile!r} is real_scale but this run departs from the paper: {'; '.join(deviations)}. "
            "Train as the paper did: processes (launch.nproc_per_node x launch.nnodes) x batch_size x "
            "accumulation = 48 (e.g. 1 x 12 x 4 on one GPU, 4 x 12 x 1 on four), no --amp; or pass "
            "--allow-deviation to train anyway with the deviation recorded in the model's metadata"
        )
