"""Student throughput with Norse neurons vs SpikingJelly's (the reference's), same weights, same input.

For each preset: build the student once per neuron backend (default: `"norse"`, the eager Norse loop;
`"norse-compiled"`, the same Norse step with its T loop fused by torch.compile; `"spikingjelly"`), load the
same calibrated state_dict into each (strict), check they fire the spikes of the first, layer by layer, then time
  - forward: eval mode, no grad, images/s;
  - training step: train mode, forward + BCE-with-logits loss + backward + Adam step, images/s;
interleaved, best of n. The key figures are the Norse / SpikingJelly throughput ratios (>= 1: Norse is at
least as fast); "norse" vs "norse-compiled" in the same table is the before / after of compiling. A third
table gives each backend's first call, which for "norse-compiled" includes compiling (once per T and grad
mode; inductor also caches compiled kernels on disk, so a later run's first call is shorter). Weights are untrained with BatchNorm calibrated on random batches, so layers fire at
realistic rates (see workloads.py). Needs SpikingJelly (the `bench` extra); without it the script says so.
The students use the reference neurons (fire on v >= v_th, as SpikingJelly), so every spike should agree;
the table names the first layer where one did not.

    .venv/bin/python benchmarks/neuron_throughput.py            # tiny (128x64, T=4) and 8-768 (256x128, T=8)
    .venv/bin/python benchmarks/neuron_throughput.py --quick    # tiny at 64x32, norse vs spikingjelly (smoke test)
    .venv/bin/python benchmarks/neuron_throughput.py --quick --backends norse norse-compiled spikingjelly
    .venv/bin/python benchmarks/neuron_throughput.py --device cuda --batch 16   # on a GPU
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings
from dataclasses import dataclass

warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit.script deprecation, from Norse's import

import torch  # noqa: E402
from timing import format_table, time_interleaved  # noqa: E402
from workloads import calibrate_batchnorm, images, student  # noqa: E402

from snnpar.models.recording import record_spikes  # noqa: E402


@dataclass(frozen=True)
class Setting:
    preset: str
    image_size: tuple[int, int]
    time_steps: int


FULL = [Setting("snnpar-tiny", (128, 64), 4), Setting("snnpar-8-768", (256, 128), 8)]
QUICK = [Setting("snnpar-tiny", (64, 32), 4)]


def spike_agreement(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor) -> tuple[float, int, str, float, float]:
    """(fraction of equal spike entries over all layers, number of differing layers, the first of them,
    firing rate, max |dlogit|)."""
    with torch.no_grad(), record_spikes(a) as sa, record_spikes(b) as sb:
        la, lb = a(x), b(x)
    if sa.keys() != sb.keys():
        raise RuntimeError(f"the two students record different layers: {sorted(sa.keys() ^ sb.keys())}")
    equal = sum(int((sa[k] == sb[k]).sum()) for k in sa)
    total = sum(sa[k].numel() for k in sa)
    differing = [k for k in sa if not torch.equal(sa[k], sb[k])]  # dict order is forward order
    rate = sum(float(sa[k].sum()) for k in sa) / total
    return equal / total, len(differing), differing[0] if differing else "-", rate, float((la - lb).abs().max())


def training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, labels: torch.Tensor):
    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x), labels)
        loss.backward()
        optimizer.step()

    return step


REFERENCE = "spikingjelly"
FULL_BACKENDS = ["norse", "norse-compiled", REFERENCE]
QUICK_BACKENDS = ["norse", REFERENCE]  # no compile in the smoke test's default run


def first_call_seconds(fn) -> float:
    """Wall time of one call: for a compiled backend, the compile that the interleaved timing warms up past."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(setting: Setting, batch: int, repeats: int, backends: list[str], device: torch.device) -> dict[str, object]:
    """Spike agreement of every backend with the first, and forward / training throughput of each."""
    base = calibrate_batchnorm(student(setting.preset, setting.image_size, setting.time_steps), setting.image_size)
    models = {}
    for name in backends:
        model = student(setting.preset, setting.image_size, setting.time_steps, neuron_backend=name)
        model.load_state_dict(base.state_dict(), strict=True)
        models[name] = model.to(device).eval()
    x = images(batch, setting.image_size, seed=7).to(device)

    def synchronised(fn):
        def run() -> None:
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)

        return run

    def forward(model):
        def run() -> None:
            with torch.no_grad():
                model(x)

        return synchronised(run)

    first_fwd = {n: first_call_seconds(forward(m)) for n, m in models.items()}
    first = backends[0]
    agreement = {n: spike_agreement(models[first], m, x) for n, m in models.items() if n != first}
    fwd = time_interleaved({n: forward(m) for n, m in models.items()}, repeats=repeats)
    labels = (torch.rand(batch, base.config.num_attributes, generator=torch.Generator().manual_seed(3)) > 0.5).float()
    labels = labels.to(device)
    trained = {n: copy.deepcopy(m).train() for n, m in models.items()}
    steps = {n: synchronised(training_step(m, torch.optim.Adam(m.parameters(), lr=1e-4), x, labels))
             for n, m in trained.items()}
    first_train = {n: first_call_seconds(step) for n, step in steps.items()}
    train = time_interleaved(steps, repeats=repeats)
    return {"agreement": agreement, "fwd": {n: batch / t.best for n, t in fwd.items()},
            "train": {n: batch / t.best for n, t in train.items()},
            "first": {"fwd": first_fwd, "train": first_train}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny preset at 64x32 only (smoke test)")
    parser.add_argument("--batch", type=int, default=1, help="images per batch (default 1: the CPU setting)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per candidate (default 3; 2 with --quick)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1: on a shared machine "
                        "extra OpenMP threads wait on busy cores and make small ops tens of times slower)")
    parser.add_argument("--presets", nargs="+", default=None, choices=[f.preset for f in FULL],
                        help="run only these presets (default: all; --quick: tiny at 64x32)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (SpikingJelly then uses CuPy if installed)")
    parser.add_argument("--backends", nargs="+", default=None,
                        help="registered neuron backends to compare; spikes are checked against the first, "
                             f"speed ratios are against {REFERENCE!r} (default: {' '.join(FULL_BACKENDS)}; "
                             f"with --quick: {' '.join(QUICK_BACKENDS)})")
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            import snnpar.models.neurons_spikingjelly  # noqa: F401  registers the "spikingjelly" backend
    except ImportError as error:
        print(f"neuron throughput: not available: {error}")
        return 0
    from snnpar.models.neurons import NEURON_BACKENDS

    if args.backends is None:
        args.backends = QUICK_BACKENDS if args.quick else FULL_BACKENDS
    unknown = [b for b in args.backends if b not in NEURON_BACKENDS]
    if unknown or REFERENCE not in args.backends:
        parser.error(f"--backends must name registered backends including {REFERENCE!r}; unknown: {unknown}; "
                     f"registered: {sorted(NEURON_BACKENDS)}")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    repeats = args.repeats or (2 if args.quick else 3)
    others = [b for b in args.backends if b != REFERENCE]
    rows, agree_rows, first_rows = [], [], []
    settings = QUICK if args.quick else [f for f in FULL if args.presets is None or f.preset in args.presets]
    for setting in settings:
        r = measure(setting, args.batch, repeats, args.backends, device)
        name = f"{setting.preset} {setting.image_size[0]}x{setting.image_size[1]} T={setting.time_steps}"
        for kind in ("fwd", "train"):
            ips = r[kind]
            rows.append([name, "forward" if kind == "fwd" else "train step (fwd+bwd+Adam)",
                         *(ips[b] for b in args.backends), *(ips[b] / ips[REFERENCE] for b in others)])
            first_rows.append([name, "forward" if kind == "fwd" else "train step",
                               *(r["first"][kind][b] for b in args.backends)])
        for other, (agreement, differing, first, rate, dlogit) in r["agreement"].items():
            agree_rows.append([name, f"{args.backends[0]} vs {other}", f"{100 * agreement:.4f}%", differing, first,
                               rate, dlogit])
    where = f"{torch.get_num_threads()} threads" if device.type == "cpu" else torch.cuda.get_device_name(device)
    print(format_table(
        ["setting", "measure", *(f"{b} img/s" for b in args.backends), *(f"{b} / {REFERENCE}" for b in others)],
        rows,
        title=f"Student throughput on {args.device} ({where}), batch {args.batch}, best of {repeats} interleaved "
              "(untrained, BN-calibrated weights)",
    ))
    print(format_table(
        ["setting", "backends", "spike agreement", "layers differing", "first differing", "mean firing rate",
         "max |logit diff|"], agree_rows,
        title="Same weights, same image: spikes of all layers (eval mode); both fire on v >= v_th (the reference "
              "neurons), which matters in SSA's attn_lif, whose input is a multiple of 0.125 (v_th = 0.5)",
    ))
    print(format_table(
        ["setting", "measure", *(f"{b} first call s" for b in args.backends)], first_rows,
        title="First call of each backend, before the timed runs (seconds; norse-compiled: includes torch.compile "
              "of that T and grad mode, or loading it from inductor's on-disk cache)",
    ))
    return 0


if __name__ == "__main__":
    sys.exit(main())
