"""`snnpar text-vectors`: the attribute phrases of a data set embedded once by a local sentence encoder.

VTB embeds short attribute phrases ("female", "age over 60", ...; `snnpar.data.attributes.attribute_phrases`)
with a frozen all-mpnet-base-v2. This command does the same with a sentence-transformers model folder already
on disk (nothing is downloaded; the optional `vtb` extra) and writes a vectors file (`snnpar.models.text_vectors`)
for `snnpar train --model vtb-b16 --text-vectors FILE` and `snnpar import --text-vectors FILE`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text-model", metavar="DIR", required=True, help="a local sentence-transformers model folder")
    parser.add_argument("--data", required=True, help="pa100k, peta, rap or synthetic: whose attributes to embed")
    parser.add_argument("--root", help="the data set folder (read for its attribute names); default: the standard names")
    parser.add_argument("--out", required=True, metavar="FILE", help="vectors file to write (.pt)")


def run(args: argparse.Namespace) -> int:
    from snnpar.data.attributes import ATTRIBUTES, attribute_phrases
    from snnpar.models.text_encoder import embed_with_sentence_transformer
    from snnpar.models.text_vectors import write_text_vectors

    if args.root:
        from snnpar.data import load_dataset
        from snnpar.train import default_splits

        names = list(load_dataset(args.data, args.root, default_splits(args.data)[0]).attribute_names)
    else:
        names = list(ATTRIBUTES[args.data])
    phrases = attribute_phrases(names)
    vectors = embed_with_sentence_transformer(args.text_model, phrases)
    write_text_vectors(args.out, names, phrases, vectors, source=str(args.text_model))
    print(f"{len(names)} attribute vectors of width {vectors.shape[1]} from {args.text_model} -> {args.out}")
    return 0
