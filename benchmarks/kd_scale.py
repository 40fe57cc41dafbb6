"""Why feature KD at the released weight (beta = 100) hurts the tiny student: the terms' sizes, side by side.

For a student, a teacher checkpoint and a data set it builds the trainer (`kd=both`, the released weights
0.6 / 100 / 1), takes a few training batches and prints, for each loss term: its value, the norm of its
gradient on the student's parameters (weighted as in the total loss), and that norm over the BCE's; and
how peaked the teacher's and the student's text-to-token similarity maps are (the softmax over tokens of
cosines in [-1, 1]: its entropy over log N, 1 = flat; its largest probability times N, 1 = flat).

    .venv/bin/python benchmarks/kd_scale.py --teacher runs/teacher/best.pt --data synthetic --root data/synth
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile

import torch
import torch.nn.functional as F


def grad_norm(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> float:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return math.sqrt(sum(float((g * g).sum()) for g in grads if g is not None))


def map_flatness(tokens: torch.Tensor, text: torch.Tensor) -> tuple[float, float]:
    """(entropy / log N, max probability * N) of softmax over tokens of cos(text, tokens), averaged."""
    cos = F.cosine_similarity(text.unsqueeze(0).unsqueeze(2), tokens.unsqueeze(1), dim=-1)  # [B, A, N]
    p = cos.softmax(dim=-1)
    n = p.shape[-1]
    entropy = -(p * p.clamp_min(1e-12).log()).sum(-1).mean() / math.log(n)
    return float(entropy), float(p.max(dim=-1).values.mean() * n)


def main(argv: list[str] | None = None) -> int:
    from snnpar.train import Trainer, resolve_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="snnpar-tiny")
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--root", required=True)
    parser.add_argument("--student", help="a trained student checkpoint to measure instead of a fresh one")
    parser.add_argument("--batches", type=int, default=4)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as out:
        config = resolve_config(None, None, dict(model=args.model, data=args.data, root=args.root, out=out,
                                                 teacher=args.teacher, kd="both", bce_weight=0.6, feature_weight=100.0,
                                                 response_weight=1.0, num_workers=0, progress=False,
                                                 tensorboard=False, device="cpu"))
        trainer = Trainer(config)
    if args.student:
        from snnpar.checkpoint import load_model

        trainer.model.load_state_dict(load_model(args.student)[0].state_dict())
    trainer.model.train()
    params = [p for p in trainer.model.parameters() if p.requires_grad]
    weights = {"bce": config.bce_weight, "feature_kd": config.feature_weight, "response_kd": config.response_weight}
    sums: dict[str, list[float]] = {}
    for step, (images, labels) in enumerate(trainer.train_loader):
        if step >= args.batches:
            break
        _, parts = trainer.compute_loss(images, labels.float())
        for name, value in parts.items():
            sums.setdefault(name, [0.0, 0.0])
            sums[name][0] += value.item() / args.batches
            sums[name][1] += grad_norm(weights[name] * value, params) / args.batches
        with torch.no_grad():
            _, tokens = trainer.model(images, return_features=True)
            t = trainer.teacher(images)
            for who, toks in (("teacher", t.visual_tokens), ("student", tokens)):
                if trainer.projection is not None and who == "student":
                    toks = trainer.projection(toks)
                e, m = map_flatness(toks, t.text_features)
                sums.setdefault(f"{who} map", [0.0, 0.0])
                sums[f"{who} map"][0] += e / args.batches
                sums[f"{who} map"][1] += m / args.batches
    bce_grad = sums["bce"][1]
    print(f"{args.model} + {args.teacher} on {args.data}; released weights 0.6 BCE + 100 feature + 1 response; "
          f"{args.batches} batches of {config.batch_size}")
    print("| term | value | weighted gradient norm | / BCE's |")
    print("|---|---|---|---|")
    for name in ("bce", "feature_kd", "response_kd"):
        value, grad = sums[name]
        print(f"| {name} | {value:.4g} | {grad:.4g} | {grad / bce_grad:.3g} |")
    print("\n| similarity map | entropy / log N | max p * N |")
    print("|---|---|---|")
    for who in ("teacher", "student"):
        e, m = sums[f"{who} map"]
        print(f"| {who} | {e:.4f} | {m:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
