"""Block cosine similarity of a decoder's weights: the paper's picture of what stacking does to a model.

A MIDAS-grown model is conjectured to resemble a looped (weight-shared) model: neighbouring blocks stay close
because each was copied from the other. We measure that directly: cut the decoder layers into blocks of
`block_size` consecutive layers, flatten every weight matrix of a block into one vector (in a fixed order), and
take the cosine similarity of every pair of block vectors. Only weights are read, so any checkpoint works, trained
or not, and no data is needed.

Norm gains and biases (1-D parameters) are left out: gains start at exactly 1.0 in every layer, and in a small
model they outweigh the matrices, so two unrelated layers would look 50% alike before any training.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from primbench.harness.errors import HarnessError
from primbench.harness.evaluation.models import load_causal_lm
from primbench.model_zoo.growth import GROWTH_FILE
from primbench.model_zoo.surgery import decoder_layers


@dataclass(frozen=True)
class SimilarityResult:
    """Cosine similarity between every pair of blocks; `matrix[i][j]` compares block i with block j."""

    architecture: str
    num_layers: int
    block_size: int
    matrix: list[list[float]]

    def to_dict(self) -> dict:
        return asdict(self)

    def neighbour_mean(self) -> float | None:
        """Mean similarity of adjacent blocks: one number that separates looped-like models from the rest."""
        pairs = [self.matrix[i][i + 1] for i in range(len(self.matrix) - 1)]
        return sum(pairs) / len(pairs) if pairs else None


def block_similarity(model: nn.Module, block_size: int = 1) -> SimilarityResult:
    """Cosine similarity of the flattened weights of every pair of blocks of `block_size` consecutive layers."""
    layers = decoder_layers(model)
    if not isinstance(block_size, int) or block_size < 1 or len(layers) % block_size:
        raise HarnessError(
            f"block size {block_size} does not divide the {len(layers)} layers of "
            f"{type(model).__name__}; pick a divisor of {len(layers)}, e.g. 1"
        )
    gram = _layer_gram(layers, type(model).__name__)
    # A block's vector is its layers' vectors laid end to end, so block dot products are sums of aligned layers'.
    blocks = len(layers) // block_size
    block_gram = torch.zeros((blocks, blocks), dtype=torch.float64)
    for offset in range(block_size):
        block_gram += gram[offset::block_size, offset::block_size]
    norms = block_gram.diagonal().sqrt().clamp_min(torch.finfo(torch.float64).tiny)
    matrix = (block_gram / norms[:, None] / norms[None, :]).clamp(-1.0, 1.0)
    return SimilarityResult(
        architecture=type(model).__name__,
        num_layers=len(layers),
        block_size=block_size,
        matrix=[[round(float(value), 6) for value in row] for row in matrix],
    )


def recorded_block_size(path: str | Path) -> int | None:
    """The growth block size a checkpoint records in `growth.json` (written by GrowthCallback), if any."""
    record = Path(path) / GROWTH_FILE
    if not record.is_file():
        return None
    try:
        block_size = json.loads(record.read_text()).get("block_size")
    except (json.JSONDecodeError, AttributeError):
        raise HarnessError(f"{record} is not a growth record; pass --block-size or delete the file") from None
    return block_size if isinstance(block_size, int) and block_size >= 1 else None


def checkpoint_similarity(path: str | Path, block_size: int = 1) -> SimilarityResult:
    """`block_similarity` of a checkpoint folder on disk."""
    return block_similarity(load_causal_lm(path), block_size)


def _layer_gram(layers: nn.ModuleList, architecture: str) -> torch.Tensor:
    """Dot products of every pair of layers' flattened weight matrices, one parameter name at a time.

    Accumulating per parameter keeps memory at one weight per layer in float64 instead of a copy of the whole
    model (a 1B model would need 8 GB for that).
    """
    named = [{name: p for name, p in layer.named_parameters() if p.dim() >= 2} for layer in layers]
    shapes = [{name: tuple(p.shape) for name, p in weights.items()} for weights in named]
    if any(shape != shapes[0] for shape in shapes):
        raise HarnessError(
            f"the layers of {architecture} differ in their weights, so they cannot be compared "
            "element by element; similarity needs a decoder of identical layers"
        )
    gram = torch.zeros((len(layers), len(layers)), dtype=torch.float64)
    for name in sorted(shapes[0]):
        stacked = torch.stack([weights[name].detach().reshape(-1) for weights in named]).to(torch.float64)
        gram += stacked @ stacked.T
    return gram
