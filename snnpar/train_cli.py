"""`snnpar train`: train a teacher, a student (with knowledge distillation) or a baseline.

Options resolve in this order: the recipe ("paper" for real data sets, "demo" for the synthetic one),
then --config FILE.json (keys are TrainConfig fields), then the flags given on the command line. The
resolved config is saved as RUN_DIR/config.json, with the run folder stored as "." and the data root and
teacher as absolute paths: --resume reads that file back and continues the run in the folder it is given
(a moved or copied run folder resumes into itself), writing nothing anywhere else.
Start it with `torchrun --nproc_per_node N -m snnpar.cli train ...` for several GPUs.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from snnpar.errors import UserError

EXAMPLES = """examples:
  snnpar data synth --out data/synth --n 2000
  snnpar train --model vtb-tiny --data synthetic --root data/synth --out runs/teacher
  snnpar train --model snnpar-tiny --data synthetic --root data/synth --out runs/student \\
      --teacher runs/teacher/best.pt --kd both
  snnpar train --model snnpar-8-768 --data pa100k --root data/PA100k --out runs/pa100k \\
      --teacher runs/vtb/best.pt --kd both --recipe paper
  snnpar train --out runs/pa100k --resume          # continue a killed run (also a moved or copied one)
"""


def add_training_arguments(parser: argparse.ArgumentParser, with_model: bool = True) -> None:
    """The options shared by `snnpar train` and `snnpar ablate` (all default to None = recipe's value)."""
    g = parser.add_argument_group("model and data")
    if with_model:
        g.add_argument("--model", help="model preset: a student (snnpar-8-768, snnpar-tiny, ...), a teacher "
                                       "(vtb-b16, vtb-tiny) or a baseline (vit-8-768, vit-tiny); see `snnpar params`")
    g.add_argument("--data", help="data set name: pa100k, peta, rap or synthetic")
    g.add_argument("--root", help="folder holding the data set")
    g.add_argument("--train-split", help="split to train on (default train; RAPv1: trainval)")
    g.add_argument("--val-split", help="split to pick the best epoch on (default val; RAPv1: test, as the released code)")
    g.add_argument("--test-split", help="split the final scores use (default test)")
    g.add_argument("--partition", type=int, help="which of PETA's / RAPv1's five standard partitions, 0..4 (default 0)")
    g.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="input size (default: the preset's)")
    g.add_argument("--time-steps", type=int, help="student time steps T (default: the preset's)")
    g.add_argument("--attention", choices=["ssa", "sdsa"], help="student attention mode (default ssa)")
    g.add_argument("--neurons", choices=["reference", "norse"],
                   help="student neuron numerics: reference (default: SpikingJelly's, as Spikingformer and SNN-PAR: fire "
                        "on v >= v_th, detached reset, Sigmoid(4) surrogate) or norse (Norse's LIF-box as is: v > v_th, "
                        "reset in the graph, SuperSpike)")
    g.add_argument("--neuron-backend", choices=["norse", "norse-compiled"],
                   help="student neurons: norse (default), or norse-compiled: the same Norse LIF step with its T loop "
                        "fused by torch.compile (same spikes and gradients; compiles on the first batch, then faster: "
                        "for long runs)")
    t = parser.add_argument_group("teacher initialisation (VTB)")
    t.add_argument("--vit-weights", metavar="FILE", help="ImageNet ViT weights for the teacher's (or baseline's) ViT: "
                                                          "a .pth in timm's key layout or Google's .npz")
    t.add_argument("--text-model", metavar="DIR", help="a local sentence-transformers model folder (VTB: "
                                                      "all-mpnet-base-v2) that embeds the attribute phrases, frozen")
    t.add_argument("--text-vectors", metavar="FILE", help="the attribute vectors instead, as `snnpar text-vectors` writes")
    k = parser.add_argument_group("knowledge distillation")
    k.add_argument("--teacher", metavar="CKPT", help="teacher checkpoint (best.pt of a `snnpar train --model vtb-...` run)")
    if with_model:
        k.add_argument("--kd", choices=["none", "response", "feature", "both"],
                       help="distillation terms (default none; with --teacher: both)")
    k.add_argument("--bce-weight", type=float, help="weight of the weighted BCE (default 1, 0.8 with one KD term, 0.6 with both)")
    k.add_argument("--alpha", dest="response_weight", type=float, help="weight of response KD (default 1)")
    k.add_argument("--beta", dest="feature_weight", type=float, help="weight of feature KD (default 100, the released code's)")
    k.add_argument("--temperature", type=float, help="KD temperature (default 2)")
    k.add_argument("--response-mode", choices=["sigmoid", "softmax"],
                   help="response KD as one softmax over attributes (default: the released code's) or over "
                        "per-attribute sigmoids")
    o = parser.add_argument_group("optimisation")
    o.add_argument("--recipe", choices=["paper", "reference", "demo"],
                   help="named recipe: paper (Adam, 60 epochs, warm-up 10, step decay), reference (SGD, cosine), "
                        "demo (small, CPU); default paper, or demo for --data synthetic")
    o.add_argument("--config", metavar="FILE.json", help="JSON object of TrainConfig fields, applied over the recipe")
    o.add_argument("--epochs", type=int)
    o.add_argument("--batch-size", type=int)
    o.add_argument("--lr", type=float, help="peak learning rate")
    o.add_argument("--optimizer", choices=["adam", "sgd"])
    o.add_argument("--weight-decay", type=float)
    o.add_argument("--warmup-epochs", type=int)
    o.add_argument("--schedule", choices=["step", "cosine", "constant"], help="after the warm-up")
    o.add_argument("--max-train-batches", type=int, help="cut each epoch after this many batches")
    if with_model:
        add_qat_arguments(parser)
    m = parser.add_argument_group("machinery")
    m.add_argument("--seed", type=int)
    m.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    m.add_argument("--threads", dest="cpu_threads", type=int,
                   help="CPU threads of torch (default: torch's; 1 is fastest for tiny models on a busy machine)")
    m.add_argument("--amp", choices=["auto", "bf16", "fp16", "off"], help="mixed precision on CUDA (default auto)")
    m.add_argument("--num-workers", type=int, help="data loader worker processes")
    m.add_argument("--no-augment", dest="augment", action="store_const", const=False, help="no pad/crop/flip")
    m.add_argument("--no-progress", dest="progress", action="store_const", const=False, help="no progress bar")
    m.add_argument("--no-tensorboard", dest="tensorboard", action="store_const", const=False)


def add_qat_arguments(parser: argparse.ArgumentParser) -> None:
    q = parser.add_argument_group("fine-tuning and quantisation-aware training")
    q.add_argument("--init", metavar="CKPT", help="start from this checkpoint's weights (same preset), e.g. a float "
                                                  "student to fine-tune for the chip")
    q.add_argument("--qat", metavar="BACKEND", help="quantisation-aware training for a chip: loihi2 (students only). The "
                   "forward is Loihi 2's integer arithmetic at the post-training scales of the starting weights; "
                   "validation and best.pt use it, as `snnpar eval --backend loihi2-fixed` does")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXAMPLES
    parser.add_argument("--out", metavar="RUN_DIR", required=True,
                        help="run folder: config.json, best.pt, last.pt, metrics.csv, tensorboard/, train_state.pt")
    parser.add_argument("--resume", action="store_true",
                        help="continue the killed run in RUN_DIR exactly where it stopped (only --epochs, and --root or "
                             "--teacher for inputs that moved, may be given with it)")
    parser.add_argument("--force", action="store_true",
                        help="start a new run in RUN_DIR even though it holds checkpoints or a training state (they are "
                             "overwritten)")
    add_training_arguments(parser)


OVERRIDE_KEYS = ("model", "data", "root", "image_size", "train_split", "val_split", "test_split", "partition",
                 "vit_weights", "text_model", "text_vectors", "teacher", "kd", "init", "qat", "bce_weight", "response_weight",
                 "feature_weight", "temperature", "response_mode", "epochs", "batch_size", "lr", "optimizer",
                 "weight_decay", "warmup_epochs", "schedule", "max_train_batches", "seed", "device", "cpu_threads", "amp",
                 "num_workers", "augment", "progress", "tensorboard")


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Command-line values that were given (None means: not given)."""
    values = {k: getattr(args, k, None) for k in OVERRIDE_KEYS}
    values = {k: v for k, v in values.items() if v is not None}
    model_overrides = {k: getattr(args, k) for k in ("time_steps", "attention", "neurons", "neuron_backend")
                       if getattr(args, k, None) is not None}
    if model_overrides:
        values["model_overrides"] = model_overrides
    if values.get("teacher") and "kd" not in values and hasattr(args, "kd"):
        values["kd"] = "both"  # a teacher given without --kd: distil with both terms
    return values


def build_config(args: argparse.Namespace):
    from snnpar.train import load_config_file, resolve_config

    file_values = load_config_file(args.config) if args.config else {}
    overrides = config_overrides(args)
    overrides["out"] = args.out
    for key in ("model", "data", "root"):
        if key not in overrides and key not in file_values:
            raise UserError(f"--{key} is required (or give it in --config)")
    return resolve_config(args.recipe, file_values, overrides)


RESUME_CHANGES = ("epochs", "root", "teacher")  # how long it goes on, and where inputs that moved are now


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from snnpar.train import read_run_config, train

    if args.resume:
        if args.force:
            raise UserError("--resume continues the run in --out and --force starts it over: give one of them")
        config = read_run_config(args.out)
        given = config_overrides(args)
        config = replace(config, **{k: given[k] for k in RESUME_CHANGES if k in given})
        ignored = sorted(set(given) - set(RESUME_CHANGES) - {"kd"})
        if ignored:
            print(f"note: --resume continues with {args.out}/config.json; ignoring {', '.join(ignored)}",
                  file=sys.stderr)
    else:
        config = build_config(args)
    formats_for = None
    if config.qat:  # a composition root: the scales come from hw_sim's post-training quantisation
        from hw_sim.chip.deployment import student_formats as formats_for
    summary = train(config, resume=args.resume, force=args.force, formats_for=formats_for)
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 speaks for all
        return 0
    print(f"best val mA {100 * summary['best_mA']:.2f} at epoch {summary['best_epoch']}; "
          f"checkpoints in {summary['run_dir']} (best.pt, last.pt)")
    return 0
