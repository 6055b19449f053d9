"""How the builders make their examples (tf_deepgifs/data/encoding.py): blocks of
sequences made and PNG-encoded in worker threads, small at first."""

import itertools
import types

import numpy as np

from tf_deepgifs.data import encoding


def test_the_blocks_cover_every_example_once_growing_to_the_largest():
    blocks = list(encoding.chunks(600, first=16, largest=256))
    assert [len(block) for block in blocks] == [16, 32, 64, 128, 256, 104]
    assert [i for block in blocks for i in block] == list(range(600))


def test_a_build_capped_at_a_few_examples_makes_few_more_than_those():
    made = []

    def generate(block):
        made.extend(block)
        video = np.full((len(block), 2, 8, 8, 1), 7, np.uint8)
        return types.SimpleNamespace(video=video)

    examples = encoding.encoded_examples(100_000, generate)
    taken = list(itertools.islice(examples, 8))  # what TFDS reads of a capped split
    examples.close()
    assert [index for index, *_ in taken] == list(range(8))
    index, sequences, k, frames = taken[3]
    assert k == 3 and len(frames) == 2 and frames[0].startswith(b"\x89PNG")
    # The blocks submitted before the first was read: 16 + 32 + 64 sequences at most.
    assert len(made) <= encoding.FIRST_CHUNK * (1 + 2 + 4), len(made)
