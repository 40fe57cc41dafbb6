"""The teacher's text side: one embedding per attribute sentence ("a pedestrian wearing a hat", ...).

Two interchangeable encoders, both modules whose forward() takes no input and returns [A, output_dim]:
- `LearnedTextEncoder` (default, fully offline): a deterministic word-level vocabulary built from the
  sentences themselves, token + position embeddings, a few pre-norm transformer blocks, a masked
  mean over words. Trained with the teacher.
- `FrozenSentenceEmbeddings`: the sentences embedded once, at construction, by a pretrained sentence
  encoder the user already has in a local folder (a saved Hugging Face / sentence-transformers model),
  mean-pooled over tokens and kept frozen, as VTB does. Needs the optional `transformers` package;
  nothing is ever downloaded (local_files_only).
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
    """Sentence embeddings computed once by a local pretrained encoder; no parameters to train."""

    def __init__(self, embeddings: torch.Tensor, source: str):
        super().__init__()
        self.register_buffer("embeddings", embeddings.detach().clone())
        self.output_dim = embeddings.shape[1]
        self.source = source

    def forward(self) -> torch.Tensor:
        return self.embeddings

    def extra_repr(self) -> str:
        return f"{tuple(self.embeddings.shape)}, source={self.source!r}"


def embed_with_pretrained(folder: str | Path, sentences: Sequence[str]) -> torch.Tensor:
    """Mean-pooled last hidden states [S, hidden] of a local Hugging Face / sentence-transformers model."""
    folder = Path(folder)
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise ValueError(
            f"text encoder {str(folder)!r} is not a local model folder (no config.json in it). Pass "
            f"text_encoder='{LEARNED}' for the built-in offline encoder, or the folder of a model saved with "
            "save_pretrained() / SentenceTransformer.save()."
        )
    try:
        from transformers import AutoModel, AutoTokenizer
    except ImportError as err:
        raise ImportError(
            f"text encoder {str(folder)!r} needs the optional 'transformers' package "
            f"(pip install transformers), or use text_encoder='{LEARNED}'"
        ) from err
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"could not load a sentence encoder from {str(folder)!r}: {err}") from err
    with torch.no_grad():
        batch = tokenizer(list(sentences), padding=True, truncation=True, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)


def build_text_encoder(spec: str, sentences: Sequence[str], width: int = 256, depth: int = 2,
                       num_heads: int = 4) -> nn.Module:
    """spec: 'learned' (the offline default) or the path of a local pretrained sentence-encoder folder."""
    if spec == LEARNED:
        return LearnedTextEncoder(sentences, width, depth, num_heads)
    return FrozenSentenceEmbeddings(embed_with_pretrained(spec, sentences), source=str(spec))
