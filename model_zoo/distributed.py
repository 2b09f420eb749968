"""Process-group set-up and model wrapping (DDP, or FSDP2 by `run.parallel: fsdp`) for torchrun launches.

One process without torchrun is the plain case: no process group, the model is used as is.
"""

from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from primbench.model_zoo.config import TrainConfig
from primbench.model_zoo.errors import CollectiveTimeout, ConfigError
from primbench.model_zoo.surgery import decoder_layers


@dataclass(frozen=True)
class Runtime:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    parallel: str  # ddp | fsdp
    param_dtype: torch.dtype = torch.float32  # FSDP2 compute dtype of gathered parameters
    timeout_s: int = 600  # how long a collective may wait for the other ranks

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
        dist.init_process_group(
            backend="nccl" if use_cuda else "gloo",
            device_id=device if use_cuda else None,
            timeout=timedelta(seconds=config.run.timeout_s),
        )
    param_dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}.get(config.run.param_dtype)
    if param_dtype is None:  # auto: bf16 compute on GPU, fp32 on CPU (where bf16 matmuls are slow)
        param_dtype = torch.bfloat16 if use_cuda else torch.float32
    return Runtime(rank, world_size, local_rank, device, config.run.parallel, param_dtype, config.run.timeout_s)


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
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        # parameters gathered in param_dtype for compute, gradients reduced (and the update applied) in fp32
        policy = MixedPrecisionPolicy(param_dtype=runtime.param_dtype, reduce_dtype=torch.float32)
        for layer in decoder_layers(model):
            fully_shard(layer, mp_policy=policy)
        fully_shard(model, mp_policy=policy)
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[runtime.local_rank] if runtime.device.type == "cuda" else None)


def reshard(wrapped: torch.nn.Module, runtime: Runtime) -> None:
    """FSDP2 leaves the root's parameters unsharded after a forward with no backward (evaluation); reshard so the
    registered parameters are again the ones the optimizer holds."""
    if runtime.distributed and runtime.parallel == "fsdp":
        wrapped.reshard()


def micro_step(wrapped: torch.nn.Module, runtime: Runtime, last: bool):
    """Context for one micro-batch's forward *and* backward: gradients are reduced only in the last one's backward.
    FSDP2 reads its flag during backward, so it is set here, before the forward, for the whole micro-step."""
    if not runtime.distributed:
        return nullcontext()
    if runtime.parallel == "fsdp":
        wrapped.set_requires_gradient_sync(last)
        return nullcontext()
    return nullcontext() if last else wrapped.no_sync()


def all_mean(value: float, runtime: Runtime) -> float:
    """Mean of a scalar over ranks (losses for the log)."""
    if not runtime.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=runtime.device)
    dist.all_reduce(tensor)
    return tensor.item() / runtime.world_size


def all_sum(values: list[float], runtime: Runtime) -> list[float]:
    """Element-wise sum over ranks (a weighted mean's numerator and weight in one collective)."""
    if not runtime.distributed:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=runtime.device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def rank_share(count: int, runtime: Runtime) -> tuple[range, int]:
    """This rank's items of `count` (contiguous, sizes differing by at most one) and the largest share, which
    every rank must step through so that FSDP2's per-forward collectives line up."""
    base, extra = divmod(count, runtime.world_size)
    start = runtime.rank * base + min(runtime.rank, extra)
    return range(start, start + base + (runtime.rank < extra)), base + (extra > 0)


def main_value(value, runtime: Runtime):
    """The first rank's `value` (any picklable object) on every rank."""
    if not runtime.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


@contextmanager
def timeouts_explained(runtime: Runtime):
    """Turn a collective that waited past run.timeout_s (a rank died, stalled or diverged) into one clear error."""
    try:
        yield
    except RuntimeError as error:
        if not runtime.distributed or "timed out" not in str(error).lower() and "timeout" not in str(error).lower():
            raise
        raise CollectiveTimeout(
            f"rank {runtime.rank} waited more than run.timeout_s ({runtime.timeout_s} s) for the other ranks; "
            f"one of them died or stalled (see its log), or raise run.timeout_s for slow steps"
        ) from None
