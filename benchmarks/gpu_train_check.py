"""One short GPU check of the paper's student: training and inference throughput of snnpar-8-768.

Run on a CUDA machine (it refuses to run without one):

    python benchmarks/gpu_train_check.py [--steps 20] [--batch-size 12] [--out result.json]

1. `snnpar train` itself, end to end, for a few batches of synthetic 256x128 images (T = 8, the paper's
   batch of 12, bf16 autocast): proves the real training path runs on CUDA and reports its wall time.
2. Steady-state images/s of a training step (forward + backward + Adam) and of a forward pass, timed with
   CUDA events after warm-up, for Norse neurons and, where SpikingJelly is importable, the reference
   SpikingJelly neurons (CuPy kernels where available) on the same weights and input.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def timed_throughput(fn, batch: int, steps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(steps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return batch * steps / (start.elapsed_time(end) / 1000.0)


def model_throughput(backend: str, batch: int, steps: int, state=None) -> dict:
    from snnpar.models import create_model

    model = create_model("snnpar-8-768", neuron_backend=backend).cuda()
    if state is not None:
        model.load_state_dict(state)
    images = torch.randn(batch, 3, 256, 128, device="cuda")
    labels = (torch.rand(batch, 26, device="cuda") < 0.3).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def train_step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(images).float(), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def forward():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            model(images)

    model.train()
    train_ips = timed_throughput(train_step, batch, steps)
    model.eval()
    fwd_ips = timed_throughput(forward, batch, steps)
    return {"train_images_per_s": round(train_ips, 2), "forward_images_per_s": round(fwd_ips, 2),
            "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}, model.state_dict()


def cli_training(steps: int, batch: int) -> dict:
    from snnpar.data.synthetic import generate

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        root = generate(Path(tmp) / "data", n=max(steps * batch * 2, 200), seed=0, image_size=(256, 128))
        gen_s = time.perf_counter() - t0
        cmd = [sys.executable, "-m", "snnpar.cli", "train", "--model", "snnpar-8-768", "--data", "synthetic",
               "--root", str(root), "--out", str(Path(tmp) / "run"), "--recipe", "paper", "--epochs", "1", "--warmup-epochs", "0",
               "--batch-size", str(batch), "--max-train-batches", str(steps), "--device", "cuda", "--amp", "bf16",
               "--no-progress", "--no-tensorboard"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        metrics = (Path(tmp) / "run" / "metrics.csv")
        return {"returncode": proc.returncode, "wall_s": round(wall, 1), "data_generation_s": round(gen_s, 1),
                "images_trained": steps * batch, "metrics_csv": metrics.read_text() if metrics.exists() else None,
                "stdout_tail": proc.stdout[-1500:], "stderr_tail": proc.stderr[-1500:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=12)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("error: no CUDA device; this check is for a GPU machine", file=sys.stderr)
        return 2
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__}
    result["norse"], state = model_throughput("norse", args.batch_size, args.steps)
    try:
        import snnpar.models.neurons_spikingjelly  # noqa: F401  (registers the backend)

        torch.cuda.reset_peak_memory_stats()
        result["spikingjelly"], _ = model_throughput("spikingjelly", args.batch_size, args.steps, state)
        result["norse_over_spikingjelly_train"] = round(
            result["norse"]["train_images_per_s"] / result["spikingjelly"]["train_images_per_s"], 3)
    except Exception as err:  # reported, not hidden: the reference backend is optional
        result["spikingjelly"] = f"not measured: {type(err).__name__}: {err}"
    result["cli_training"] = cli_training(min(args.steps, 10), args.batch_size)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
