"""Paraphrased requests use none of the words the training captions use for a fact."""

from __future__ import annotations

import re

import numpy as np

from scenecraft.evaluate.paraphrase import SYNONYMS, paraphrase
from scenecraft.world.captions import FLOOR_WORDS, MATERIAL_WORDS, SHAPE_WORDS, WALL_WORDS, caption, subject_phrase
from scenecraft.world.dataset import WorldSampler
from scenecraft.world.smpl import PRESET_PHRASES
from scenecraft.world.spec import COLOUR_NAMES


def _caption_words() -> set[str]:
    """Every fact word of the caption vocabulary (independent of SYNONYMS: read from captions.py)."""
    words = set(COLOUR_NAMES) | {w for ws in (*MATERIAL_WORDS.values(), *SHAPE_WORDS.values()) for w in ws}
    words |= {w for phrase in PRESET_PHRASES.values() for w in phrase.split() if len(w) > 3}
    words -= {"skin", "with", "arms", "hands"}  # people's skin is never asked for; "with" is not a fact
    return words


def test_no_caption_fact_word_survives_and_facts_are_kept_in_order() -> None:
    vocabulary = _caption_words()
    sampler = WorldSampler(seed=10_007)
    rng = np.random.default_rng(0)
    seen = 0
    for i in range(60):
        spec = sampler.spec(i)
        texts = [caption(spec, rng), *(subject_phrase(s, rng) for s in spec.subjects)]
        for text in texts:
            out = paraphrase(text)
            assert out != text
            left = {w for w in re.findall(r"[a-z-]+", out.lower()) if w in vocabulary and w not in SYNONYMS.values()}
            assert not left, (text, out, left)
            seen += 1
    assert seen > 100


def test_whole_words_only_and_the_first_letter_keeps_its_case() -> None:
    assert paraphrase("A red cube, reddish bricks") == "A crimson block, reddish bricks"
    assert paraphrase("Red glass sphere lit from the left") == (
        "Crimson crystal orb with light falling from the left side"
    )
    assert paraphrase("a person waving on a lawn") == "an individual greeting with a raised hand on a meadow"
    assert all(k == k.lower() for k in SYNONYMS)
    for words in (*FLOOR_WORDS.values(),):
        for w in words:
            assert paraphrase(w) != w
    assert all(paraphrase(w) != w for w in WALL_WORDS.values())
