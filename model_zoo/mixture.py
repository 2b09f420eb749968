"""`data.mix`: blend a file of other text (primitive examples, say) into the training stream at a fixed share.

With it on, a run no longer asks the paper's question (does reasoning emerge from plain text?) but the sister
paper's (how well is a primitive learned from text that holds some of it?); a run's summary records both keys.
The corpus tokens stay as they are. The mixture's documents are tokenised with the corpus tokenizer (each ended
by EOS) and repeated until they are `data.mix_fraction` of the training tokens, then appended after the corpus,
so `train_batch`'s seeded random windows draw them at that rate and the data position is still just the step.
Validation stays corpus-only, so validation loss keeps measuring the corpus. Only the repeated mixture lives in
memory (the corpus shards stay memory-mapped), so it suits a mixture of up to a few hundred million tokens.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from primbench.model_zoo.config import DataConfig
from primbench.model_zoo.corpus import read_documents
from primbench.model_zoo.errors import ConfigError


def mixture_tokens(data_config: DataConfig, tokenizer, eos: int, dtype) -> np.ndarray:
    """The mixture file's documents as one token array, each document ended by EOS."""
    documents = [text for text in read_documents(data_config.mix, data_config.text_field) if text]
    if not documents:
        raise ConfigError(f"data.mix {data_config.mix} holds no text; point it at a non-empty .txt/.jsonl file")
    encoded = tokenizer.backend_tokenizer.encode_batch(documents, add_special_tokens=False)
    return np.concatenate([np.asarray(encoding.ids + [eos], dtype=dtype) for encoding in encoded])


def blend_mixture(data, data_config: DataConfig):
    """`data` with the mixture appended to its training tokens at `data.mix_fraction`; unchanged when off."""
    if not data_config.mix:
        return data
    mixture = mixture_tokens(data_config, data.tokenizer, data.tokenizer.eos_token_id, data.train.dtype)
    fraction = data_config.mix_fraction
    wanted = round(len(data.train) * fraction / (1.0 - fraction))
    repeated = np.resize(mixture, wanted)  # the mixture repeated (and cut) to `wanted` tokens
    return dataclasses.replace(data, train=data.train.with_part(repeated))
