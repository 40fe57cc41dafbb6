"""The teacher's text side: one embedding per attribute ("female", "age over 60", ...).

Two interchangeable encoders, both modules whose forward() takes no input and returns [A, output_dim]:
- `FrozenSentenceEmbeddings` ("frozen", VTB's): the attribute phrases embedded once by a pretrained
  sentence encoder (VTB: all-mpnet-base-v2, 768-d), frozen. The vectors are a buffer of the model, so
  they travel in its checkpoint; they come from a local sentence-transformers model folder
  (`embed_with_sentence_transformer`, the optional `vtb` extra) or a vectors file (`snnpar.models.text_vectors`).
- `LearnedTextEncoder` ("learned", fully offline, the tiny demo teacher's): a deterministic word-level
  vocabulary built from the sentences themselves, token + position embeddings, a few pre-norm transformer
  blocks, a masked mean over words. Trained with the teacher.
This module knows nothing about images or the fusion; `snnpar.models.vtb` combines them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from snnpar.models.vit import Block

LEARNED = "learned"
_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def default_sentences(num_attributes: int) -> list[str]:
    """Placeholder sentences for when no attribute names are known."""
    return [f"a pedestrian with attribute {i}" for i in range(num_attributes)]


def split_words(sentence: str) -> list[str]:
    """Lower-cased words and single punctuation marks, in order."""
    return _WORD.findall(sentence.lower())


@dataclass(frozen=True)
class WordVocabulary:
    """Sorted words of a fixed sentence set; id 0 is padding, id 1 an unknown word."""

    words: tuple[str, ...]

    PAD = 0
    UNKNOWN = 1

    @classmethod
    def from_sentences(cls, sentences: Sequence[str]) -> WordVocabulary:
        return cls(tuple(sorted({w for s in sentences for w in split_words(s)})))

    def __len__(self) -> int:
        return len(self.words) + 2

    def encode(self, sentences: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (ids [S, L] long, mask [S, L] bool, True on real words); L = the longest sentence."""
        index = {w: i + 2 for i, w in enumerate(self.words)}
        rows = [[index.get(w, self.UNKNOWN) for w in split_words(s)] or [self.UNKNOWN] for s in sentences]
        length = max(len(r) for r in rows)
        ids = torch.tensor([r + [self.PAD] * (length - len(r)) for r in rows], dtype=torch.long)
        return ids, ids != self.PAD


class LearnedTextEncoder(nn.Module):
    """A small transformer over the attribute sentences, trained from scratch with the teacher."""

    def __init__(self, sentences: Sequence[str], width: int = 256, depth: int = 2, num_heads: int = 4):
        super().__init__()
        if not sentences:
            raise ValueError("the text encoder needs at least one attribute sentence")
        self.sentences = tuple(sentences)
        self.vocabulary = WordVocabulary.from_sentences(self.sentences)
        ids, mask = self.vocabulary.encode(self.sentences)
        # Derived from the sentences, so rebuilt (not loaded) with the model.
        self.register_buffer("token_ids", ids, persistent=False)
        self.register_buffer("token_mask", mask, persistent=False)
        self.output_dim = width
        self.word_embed = nn.Embedding(len(self.vocabulary), width, padding_idx=WordVocabulary.PAD)
        self.pos_embed = nn.Parameter(torch.zeros(1, ids.shape[1], width))
        self.blocks = nn.ModuleList(Block(width, num_heads) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.word_embed.weight, std=0.02)

    def forward(self) -> torch.Tensor:
        """-> [A, width]: the mean over each sentence's words of the last block's normalised output."""
        x = self.word_embed(self.token_ids) + self.pos_embed[:, : self.token_ids.shape[1]]
        for block in self.blocks:
            x = block(x, self.token_mask)
        x = self.norm(x)
        weights = self.token_mask.unsqueeze(-1).to(x.dtype)
        return (x * weights).sum(dim=1) / weights.sum(dim=1)


class FrozenSentenceEmbeddings(nn.Module):
    """Sentence vectors [A, width] computed elsewhere, held as a (saved) buffer; no parameters to train."""

    def __init__(self, num_sentences: int, width: int):
        super().__init__()
        self.register_buffer("embeddings", torch.zeros(num_sentences, width))
        self.output_dim = width

    def set_vectors(self, vectors: torch.Tensor) -> None:
        if tuple(vectors.shape) != tuple(self.embeddings.shape):
            raise ValueError(f"attribute vectors of shape {list(vectors.shape)} do not fit the teacher's text "
                             f"side {list(self.embeddings.shape)} (attributes x width)")
        with torch.no_grad():
            self.embeddings.copy_(vectors)

    def forward(self) -> torch.Tensor:
        return self.embeddings

    def extra_repr(self) -> str:
        return f"{tuple(self.embeddings.shape)}, frozen"


def embed_with_sentence_transformer(folder: str | Path, sentences: Sequence[str]) -> torch.Tensor:
    """[S, width] vectors of a local sentence-transformers model folder, as SentenceTransformer.encode gives
    them (its own pooling and normalisation modules included, as VTB's preprocessing used it). No download."""
    from snnpar.errors import UserError

    folder = Path(folder)
    if not folder.is_dir() or not (folder / "modules.json").is_file():
        raise UserError(f"text model {folder} is not a local sentence-transformers model folder (no modules.json "
                        "in it); pass the folder of a model saved with SentenceTransformer.save(), e.g. "
                        "all-mpnet-base-v2, or precomputed vectors with --text-vectors")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise UserError(f"--text-model {folder} needs sentence-transformers: pip install 'snnpar[vtb]' "
                        "(or give --text-vectors FILE written by `snnpar text-vectors`)") from err
    try:
        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"could not load a sentence encoder from {folder}: {err}") from err
    with torch.no_grad():
        return model.encode(list(sentences), convert_to_tensor=True).float().cpu()


TEXT_ENCODERS = (LEARNED, "frozen")


def build_text_encoder(spec: str, sentences: Sequence[str], width: int = 256, depth: int = 2,
                       num_heads: int = 4) -> nn.Module:
    """spec: 'learned' (the offline default) or 'frozen' (vectors of `width`, filled by `set_vectors` or a checkpoint)."""
    if spec == LEARNED:
        return LearnedTextEncoder(sentences, width, depth, num_heads)
    if spec == "frozen":
        return FrozenSentenceEmbeddings(len(sentences), width)
    raise ValueError(f"text_encoder must be one of {TEXT_ENCODERS}, not {spec!r}")
