"""Process-group set-up and model wrapping (DDP, or FSDP2 by `run.parallel: fsdp`) for torchrun launches.

One process without torchrun is the plain case: no process group, the model is used as is.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.distributed as dist

from primbench.model_zoo.config import TrainConfig
from primbench.model_zoo.errors import ConfigError


@dataclass(frozen=True)
class Runtime:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    parallel: str  # ddp | fsdp

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(config: TrainConfig) -> Runtime:
    """Read torchrun's environment, pick the device, join the process group (NCCL on GPU, gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    wanted = config.run.device
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ConfigError("run.device is cuda but no CUDA device is visible; set run.device=cpu or auto")
    use_cuda = wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available())
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if config.run.num_threads > 0:
        torch.set_num_threads(config.run.num_threads)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", device_id=device if use_cuda else None)
    return Runtime(rank, world_size, local_rank, device, config.run.parallel)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(runtime: Runtime) -> None:
    if runtime.distributed:
        dist.barrier()


def wrap(model: torch.nn.Module, runtime: Runtime) -> torch.nn.Module:
    """The module the loop calls. DDP returns a wrapper; FSDP2 shards each decoder layer and the root in place.
    Called again after every growth step, since the set of parameters changed."""
    if not runtime.distributed:
        return model
    if runtime.parallel == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for layer in model.model.layers:
            fully_shard(layer)
        fully_shard(model)
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[runtime.local_rank] if runtime.device.type == "cuda" else None)


def reshard(wrapped: torch.nn.Module, runtime: Runtime) -> None:
    """FSDP2 leaves the root's parameters unsharded after a forward with no backward (evaluation); reshard so the
    registered parameters are again the ones the optimizer holds."""
    if runtime.distributed and runtime.parallel == "fsdp":
        wrapped.reshard()


def gradient_sync(wrapped: torch.nn.Module, runtime: Runtime, sync: bool):
    """Skip the gradient all-reduce on all but the last micro-batch of an accumulation."""
    if not runtime.distributed or sync:
        return nullcontext()
    if runtime.parallel == "fsdp":
        wrapped.set_requires_gradient_sync(False)
        return _ReenableSync(wrapped)
    return wrapped.no_sync()


class _ReenableSync:
    """FSDP2 has a setter rather than a context manager; turn syncing back on when the micro-step ends."""

    def __init__(self, module: torch.nn.Module):
        self.module = module

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.module.set_requires_gradient_sync(True)


def all_mean(value: float, runtime: Runtime) -> float:
    """Mean of a scalar over ranks (losses for the log)."""
    if not runtime.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=runtime.device)
    dist.all_reduce(tensor)
    return tensor.item() / runtime.world_size
