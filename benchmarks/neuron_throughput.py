"""Student throughput with Norse neurons vs SpikingJelly's (the reference's), same weights, same input.

For each preset: build the student twice (`neuron_backend="norse"` and `"spikingjelly"`), copy the Norse
model's state_dict into the other (strict), check both fire the same spikes layer by layer, then time
  - forward: eval mode, no grad, images/s;
  - training step: train mode, forward + BCE-with-logits loss + backward + Adam step, images/s;
interleaved, best of n. The key figure is the Norse / SpikingJelly throughput ratio (>= 1: Norse is at
least as fast). Weights are untrained with BatchNorm calibrated on random batches, so layers fire at
realistic rates (see workloads.py). Needs SpikingJelly (the `bench` extra); without it the script says so.

    .venv/bin/python benchmarks/neuron_throughput.py            # tiny (128x64, T=4) and 8-768 (256x128, T=8)
    .venv/bin/python benchmarks/neuron_throughput.py --quick    # tiny at 64x32 only, for the smoke test
"""

from __future__ import annotations

import argparse
import copy
import sys
import warnings
from dataclasses import dataclass

import torch

from timing import format_table, time_interleaved
from workloads import calibrate_batchnorm, images, student

from snnpar.models.recording import record_spikes


@dataclass(frozen=True)
class Setting:
    preset: str
    image_size: tuple[int, int]
    time_steps: int


FULL = [Setting("snnpar-tiny", (128, 64), 4), Setting("snnpar-8-768", (256, 128), 8)]
QUICK = [Setting("snnpar-tiny", (64, 32), 4)]


def spike_agreement(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor) -> tuple[float, int, float, float]:
    """(fraction of equal spike entries over all layers, number of differing layers, firing rate, max |dlogit|)."""
    with torch.no_grad(), record_spikes(a) as sa, record_spikes(b) as sb:
        la, lb = a(x), b(x)
    if sa.keys() != sb.keys():
        raise RuntimeError(f"the two students record different layers: {sorted(sa.keys() ^ sb.keys())}")
    equal = sum(int((sa[k] == sb[k]).sum()) for k in sa)
    total = sum(sa[k].numel() for k in sa)
    differing = sum(not torch.equal(sa[k], sb[k]) for k in sa)
    rate = sum(float(sa[k].sum()) for k in sa) / total
    return equal / total, differing, rate, float((la - lb).abs().max())


def training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, labels: torch.Tensor):
    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), labels)
        loss.backward()
        optimizer.step()

    return step


def measure(setting: Setting, batch: int, repeats: int) -> dict[str, object]:
    norse = calibrate_batchnorm(student(setting.preset, setting.image_size, setting.time_steps), setting.image_size)
    jelly = student(setting.preset, setting.image_size, setting.time_steps, neuron_backend="spikingjelly")
    jelly.load_state_dict(norse.state_dict(), strict=True)
    jelly.eval()
    x = images(batch, setting.image_size, seed=7)
    agreement, differing, rate, dlogit = spike_agreement(norse, jelly, x)

    def forward(model):
        def run() -> None:
            with torch.no_grad():
                model(x)

        return run

    fwd = time_interleaved({"norse": forward(norse), "spikingjelly": forward(jelly)}, repeats=repeats)
    labels = (torch.rand(batch, norse.config.num_attributes, generator=torch.Generator().manual_seed(3)) > 0.5).float()
    trained = {name: copy.deepcopy(m).train() for name, m in (("norse", norse), ("spikingjelly", jelly))}
    steps = {n: training_step(m, torch.optim.Adam(m.parameters(), lr=1e-4), x, labels) for n, m in trained.items()}
    train = time_interleaved(steps, repeats=repeats)
    return {
        "setting": setting, "agreement": agreement, "differing": differing, "rate": rate, "dlogit": dlogit,
        "fwd": {n: batch / t.best for n, t in fwd.items()}, "train": {n: batch / t.best for n, t in train.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny preset at 64x32 only (smoke test)")
    parser.add_argument("--batch", type=int, default=1, help="images per batch (default 1: the CPU setting)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per candidate (default 3; 2 with --quick)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: on a shared machine "
                        "extra OpenMP threads wait on busy cores and make small ops tens of times slower)")
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            import snnpar.models.neurons_spikingjelly  # noqa: F401  registers the "spikingjelly" backend
    except ImportError as error:
        print(f"neuron throughput: not available: {error}")
        return 0
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (2 if args.quick else 3)
    rows, agree_rows = [], []
    for setting in QUICK if args.quick else FULL:
        r = measure(setting, args.batch, repeats)
        name = f"{setting.preset} {setting.image_size[0]}x{setting.image_size[1]} T={setting.time_steps}"
        for kind in ("fwd", "train"):
            n, j = r[kind]["norse"], r[kind]["spikingjelly"]
            rows.append([name, "forward" if kind == "fwd" else "train step (fwd+bwd+Adam)", n, j, n / j])
        agree_rows.append([name, f"{100 * r['agreement']:.4f}%", r["differing"], r["rate"], r["dlogit"]])
    print(format_table(
        ["setting", "measure", "Norse img/s", "SpikingJelly img/s", "Norse / SpikingJelly"], rows,
        title=f"Student throughput, batch {args.batch}, {torch.get_num_threads()} threads, best of {repeats} "
              "interleaved (untrained, BN-calibrated weights)",
    ))
    print(format_table(
        ["setting", "spike agreement", "layers differing", "mean firing rate", "max |logit diff|"], agree_rows,
        title="Same weights, same image: Norse vs SpikingJelly spikes, all layers (eval mode)",
    ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
