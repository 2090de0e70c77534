"""Start a training command with the profile's number of processes: the train stages of ``dvc.yaml``.

    python -m replication.train.launch replication train --params params.yaml --variant full ...

reads ``profiles.<active>.launch`` from the ``--params`` file (and ``--profile``) of the command it is
given. One process (``nproc_per_node: 1``, ``nnodes: 1``) runs ``python -m replication train ...``;
several run ``python -m torch.distributed.run --nproc_per_node=N ... -m replication train ...``
(``torchrun``, which ships with PyTorch). The launcher replaces itself with that command (``exec``),
so DVC's signals and the exit status are the trainer's own.

Several machines (``nnodes > 1``): every machine runs the same command, in checkouts that share the
run folders (``runs/``) and see the same prepared data. What differs per machine comes from the
environment: ``REPLICATION_NODE_RANK`` (0 on the machine that also runs ``dvc repro``, 1 .. nnodes-1
on the others) and ``REPLICATION_MASTER`` (``host:port`` of machine 0, reachable from every machine).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

from replication.errors import UserError
from replication.train.config import LaunchConfig

NODE_RANK_ENV = "REPLICATION_NODE_RANK"
MASTER_ENV = "REPLICATION_MASTER"
TRAIN = ("replication", "train")


def train_args(argv: Sequence[str]) -> list[str]:
    """The arguments of ``replication train`` from the launcher's argv (``[--] replication train ARGS``)."""
    args = list(argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if tuple(args[:2]) != TRAIN:
        raise UserError(f"expected `replication train ...` after the launcher, got {' '.join(args[:2]) or 'nothing'}")
    return args[2:]


def _multi_node(nnodes: int, env: Mapping[str, str]) -> list[str]:
    rank_text = env.get(NODE_RANK_ENV, "").strip()
    master = env.get(MASTER_ENV, "").strip()
    if not rank_text.isdigit() or int(rank_text) >= nnodes:
        raise UserError(
            f"launch.nnodes is {nnodes}: set ${NODE_RANK_ENV} to this machine's rank, 0 to {nnodes - 1} "
            f"(got {rank_text or 'nothing'})"
        )
    host, _, port = master.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"launch.nnodes is {nnodes}: set ${MASTER_ENV} to host:port of machine 0 (got {master!r})")
    return [f"--nnodes={nnodes}", f"--node_rank={int(rank_text)}", f"--master_addr={host}", f"--master_port={port}"]


def command(
    launch: LaunchConfig, args: Sequence[str], env: Mapping[str, str], python: str = sys.executable
) -> list[str]:
    """The command line that trains with ``launch``'s processes (``args``: ``replication train``'s)."""
    if launch.world_size == 1:
        return [python, "-m", "replication", "train", *args]
    cmd = [python, "-m", "torch.distributed.run", f"--nproc_per_node={launch.nproc_per_node}"]
    if launch.nnodes == 1:
        cmd.append("--standalone")  # a free local port: stages may run side by side
    else:
        cmd += _multi_node(launch.nnodes, env)
    return [*cmd, "-m", "replication", "train", *args]


def _check_gpus(launch: LaunchConfig, device: str | None, section: str) -> None:
    """Several processes on CUDA take one GPU each: say so before torchrun starts them."""
    name = (device or os.environ.get("REPLICATION_DEVICE", "") or "auto").strip().lower()
    if launch.nproc_per_node == 1 or name not in ("auto", "cuda"):
        return
    import torch

    have = torch.cuda.device_count()
    if name == "auto" and have == 0:
        return  # CPU processes (gloo)
    if have < launch.nproc_per_node:
        raise UserError(
            f"{section}.nproc_per_node is {launch.nproc_per_node} but this machine has {have} GPU(s): set it to "
            f"{max(have, 1)} and raise train_net/train_gan.accumulation to keep the total batch"
        )


def resolve(argv: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """The command to run for the launcher's ``argv`` (reads the params file the command names)."""
    from replication.paramfile import read_params

    args = train_args(argv)
    known = argparse.ArgumentParser(add_help=False)
    known.add_argument("--params", default="params.yaml")
    known.add_argument("--profile")
    known.add_argument("--device")
    ns, _ = known.parse_known_args(args)
    pf = read_params(ns.params, ns.profile)  # the one section it reads: training depends on nothing more
    launch = pf.section(LaunchConfig, "launch")
    if "RANK" in env and "WORLD_SIZE" in env:  # already one of torchrun's processes: never nest
        return command(LaunchConfig(nproc_per_node=1, nnodes=1), args, env)
    _check_gpus(launch, ns.device, f"profiles.{pf.profile}.launch")
    return command(launch, args, env)


def main(argv: Sequence[str] | None = None) -> int:
    from replication.strict import ParamsError

    argv = sys.argv[1:] if argv is None else argv
    try:
        train_args(argv)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2  # a usage error (docs/cli.md)
    try:
        cmd = resolve(argv, os.environ)
    except (UserError, ParamsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1  # as `replication` does for a user error (docs/cli.md)
    print(f"launch: {' '.join(['python', *cmd[1:]])}", file=sys.stderr, flush=True)
    os.execv(cmd[0], cmd)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
