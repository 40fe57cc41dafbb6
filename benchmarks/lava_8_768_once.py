"""One 256x128 image through snnpar-8-768 (random weights, BN calibrated, SSA): Norse forward vs Lava float."""
import sys, time, resource
import numpy as np, torch
from torch import nn
from snnpar.models.registry import create_model
from snnpar.models.spikingformer import Spikingformer, SpikingformerConfig
from snnpar.models.recording import record_spikes
from export import export_nir, read_graph
from hw_sim.run import run

depth = int(sys.argv[1]) if len(sys.argv) > 1 else 8
T = int(sys.argv[2]) if len(sys.argv) > 2 else 8
torch.manual_seed(0)
model = Spikingformer(SpikingformerConfig(embed_dim=768, depth=depth, num_heads=8, time_steps=T, attention="ssa"))
print("params", sum(p.numel() for p in model.parameters()), "depth", depth, "T", T, flush=True)
norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
for bn in norms:
    bn.momentum = None
model.train()
with torch.no_grad():
    model(torch.randn(2, 3, 256, 128))
g = torch.Generator().manual_seed(0)
with torch.no_grad():
    for bn in norms:
        c = bn.num_features
        bn.running_mean.add_(0.1 * torch.randn(c, generator=g))
        bn.running_var.mul_(torch.empty(c).uniform_(0.8, 1.25, generator=g))
        bn.weight.uniform_(0.8, 1.6, generator=g)
        bn.bias.uniform_(0.3, 1.0, generator=g)
model.eval()
image = torch.randn(1, 3, 256, 128, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    model(image)
    t = time.perf_counter(); model(image); print(f"norse float32 forward {time.perf_counter() - t:.2f} s", flush=True)
model = model.double()
with torch.no_grad(), record_spikes(model) as norse:
    t = time.perf_counter(); model(image.double()); print(f"norse float64 forward {time.perf_counter() - t:.2f} s", flush=True)
t = time.perf_counter(); export_nir(model, "/tmp/lava2/s768.nir"); print(f"export {time.perf_counter() - t:.1f} s", flush=True)
graph = read_graph("/tmp/lava2/s768.nir")
t = time.perf_counter()
res = run(graph, image.double().numpy(), mode="float", progress=True)
print(f"lava end to end {time.perf_counter() - t:.1f} s", res.timings, "processes", res.num_processes,
      f"peak PSS {res.peak_memory_mb:.0f} MB", "max steps", max(res.depth.values()) + T, flush=True)
ok = {n: float((res.spikes[n] == s.numpy()).mean()) for n, s in norse.items()}
print("min spike match vs Norse", min(ok.values()), "layers", len(ok), "all exact", all(v == 1.0 for v in ok.values()))
print("rates", {n.split("blocks.")[-1]: round(float(s.float().mean()), 3) for n, s in list(norse.items())[:12]})
print("parent maxrss MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
