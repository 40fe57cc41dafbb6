"""Pictures of a run: predicted attributes on images, spiking-activity heat maps, rasters, energy, fidelity.

Each `draw_*` function takes plain arrays or dicts (numpy or torch) and returns a matplotlib Figure
built without pyplot (Agg canvas, no global state, safe in tests and headless runs); `save_figure`
writes it atomically. Nothing here runs a model or counts anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from snnpar.atomic_file import atomic_output


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write `fig` to `path` (format from the suffix) via a temporary file in the same folder."""
    with atomic_output(path, suffix=Path(path).suffix) as tmp:
        fig.savefig(tmp, dpi=dpi)
    return Path(path)


def _as_rgb(image) -> np.ndarray:
    """[3, H, W] or [H, W, 3], any range -> [H, W, 3] in [0, 1] (min-max if outside)."""
    img = _np(image).astype(np.float64)
    if img.ndim == 3 and img.shape[0] == 3 and img.shape[-1] != 3:
        img = img.transpose(1, 2, 0)
    if img.min() < 0 or img.max() > 1:
        img = (img - img.min()) / max(img.max() - img.min(), 1e-12)
    return img


def draw_attributes(images, probabilities, attribute_names: Sequence[str], labels=None, threshold: float = 0.5,
                    max_images: int = 6, max_listed: int = 8) -> Figure:
    """Fig. 3: each image beside the attributes predicted above `threshold` (green: correct, red: wrong)."""
    probs = _np(probabilities)
    n = min(len(probs), max_images)
    fig = _figure(2.6 * n, 4.2)
    axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)[0])
    for i, ax in enumerate(axes):
        ax.imshow(_as_rgb(images[i]))
        ax.set_axis_off()
        order = np.argsort(-probs[i])
        shown = [a for a in order if probs[i, a] >= threshold][:max_listed]
        lines = []
        for a in shown:
            ok = labels is None or bool(_np(labels)[i, a] >= 0.5)
            lines.append((f"{attribute_names[a]} {probs[i, a]:.2f}", "tab:green" if ok else "tab:red"))
        if not lines:
            lines = [("(none above threshold)", "gray")]
        for j, (text, colour) in enumerate(lines):
            ax.text(1.02, 1.0 - 0.07 * j, text, transform=ax.transAxes, fontsize=7, color=colour, va="top")
    fig.suptitle(f"predicted attributes (p >= {threshold})", fontsize=9)
    return fig


def spatial_activity(spikes: Mapping[str, object], image_size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Per layer, spike count over time, batch and channels at each place, resized to `image_size`.

    Tokenizer layers are [T, B, C, H, W]; token layers [T, B, C, N] are read back onto the
    (H/16, W/16) token grid. Layers whose positions cannot be placed on the image are skipped.
    """
    h_img, w_img = image_size
    grid = (h_img // 16, w_img // 16)
    maps = {}
    for name, s in spikes.items():
        a = _np(s).astype(np.float64)
        if a.ndim == 5:
            m = a.sum(axis=(0, 1, 2))
        elif a.ndim == 4 and a.shape[-1] == grid[0] * grid[1]:
            m = a.sum(axis=(0, 1, 2)).reshape(grid)
        else:
            continue
        reps = (max(h_img // m.shape[0], 1), max(w_img // m.shape[1], 1))
        maps[name] = np.kron(m, np.ones(reps))[:h_img, :w_img]
    return maps


def draw_activity_heatmaps(image, spikes: Mapping[str, object], layers: Sequence[str] | None = None, alpha: float = 0.55) -> Figure:
    """Fig. 4: where spiking activity concentrates over the image, one panel per layer (spikes of one image)."""
    rgb = _as_rgb(image)
    maps = spatial_activity(spikes, rgb.shape[:2])
    names = [n for n in (layers or maps) if n in maps]
    if not names:
        raise ValueError(f"no layer of {list(spikes)[:6]} can be placed on the image")
    fig = _figure(1.7 * (len(names) + 1), 3.4)
    axes = fig.subplots(1, len(names) + 1, squeeze=False)[0]
    axes[0].imshow(rgb)
    axes[0].set_title("image", fontsize=7)
    for ax, name in zip(axes[1:], names):
        ax.imshow(rgb)
        m = maps[name]
        ax.imshow(m / max(m.max(), 1e-12), cmap="jet", alpha=alpha, vmin=0, vmax=1)
        ax.set_title(name.replace("tokenizer.", "").replace("blocks.", "b"), fontsize=6)
    for ax in axes:
        ax.set_axis_off()
    return fig


def draw_raster(spikes: Mapping[str, object], sample: int = 0, max_neurons: int = 300, seed: int = 0) -> Figure:
    """Spike rasters per layer (time x a random subset of neurons) and each layer's firing rate."""
    names = list(spikes)
    rng = np.random.default_rng(seed)
    fig = _figure(10, 1.1 * len(names) + 1.5)
    grid = fig.add_gridspec(len(names), 2, width_ratios=[3, 1])
    rates = []
    for i, name in enumerate(names):
        a = _np(spikes[name])
        rates.append(float(a.mean()))
        per_step = a[:, sample].reshape(a.shape[0], -1)
        pick = np.sort(rng.choice(per_step.shape[1], size=min(max_neurons, per_step.shape[1]), replace=False))
        t_idx, n_idx = np.nonzero(per_step[:, pick])
        ax = fig.add_subplot(grid[i, 0])
        ax.scatter(n_idx, t_idx, s=2, marker="|", color="black")
        ax.set_ylim(-0.5, per_step.shape[0] - 0.5)
        ax.set_ylabel(name.split(".")[-1], fontsize=6, rotation=0, ha="right")
        ax.tick_params(labelsize=5)
    ax = fig.add_subplot(grid[:, 1])
    ax.barh(range(len(names)), rates, color="tab:blue")
    ax.set_yticks(range(len(names)), names, fontsize=5)
    ax.invert_yaxis()
    ax.set_xlabel("firing rate", fontsize=7)
    return fig


def draw_firing_rates(rates: Mapping[str, Mapping[str, float]]) -> Figure:
    """Firing rate per layer for several sources, e.g. {"norse": {...}, "lava float": {...}}."""
    sources = list(rates)
    layers = list(next(iter(rates.values())))
    fig = _figure(max(6, 0.45 * len(layers)), 3.5)
    ax = fig.subplots()
    width = 0.8 / len(sources)
    for i, src in enumerate(sources):
        ax.bar(np.arange(len(layers)) + i * width, [rates[src].get(layer, np.nan) for layer in layers], width, label=src)
    ax.set_xticks(np.arange(len(layers)) + 0.4 - width / 2, layers, rotation=70, ha="right", fontsize=6)
    ax.set_ylabel("firing rate")
    ax.legend(fontsize=7)
    return fig


def draw_energy(per_layer: Mapping[str, float], per_profile: Mapping[str, Mapping[str, float]]) -> Figure:
    """Left: energy per layer (one profile, joules); right: SNN (and ANN) energy per image per profile, log scale."""
    fig = _figure(12, 4)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[2, 1])
    names = [n for n, e in (per_layer or {}).items() if e]
    ax1.bar(range(len(names)), [per_layer[n] * 1e9 for n in names], color="tab:orange")
    ax1.set_xticks(range(len(names)), names, rotation=70, ha="right", fontsize=6)
    ax1.set_ylabel("energy per image (nJ)")
    profiles = list(per_profile)
    models = list(dict.fromkeys(m for row in per_profile.values() for m in row))  # chip rows price the SNN only
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        values = [np.nan if per_profile[p].get(model) is None else per_profile[p][model] * 1e6 for p in profiles]
        ax2.bar(np.arange(len(profiles)) + i * width, values, width, label=model)
    ax2.set_yscale("log")
    ax2.set_xticks(np.arange(len(profiles)) + 0.4 - width / 2, profiles, rotation=45, ha="right", fontsize=7)
    ax2.set_ylabel("energy per image (uJ)")
    ax2.legend(fontsize=7)
    return fig


def draw_chip_energy(per_chip: Mapping[str, Mapping[str, Mapping[str, float]]]) -> Figure:
    """Energy per image on each chip, stacked by cost term (typical figures), error bars for the band.

    per_chip: {label: {band: {term: joules}}}, as `ChipEnergy.energy` or the report's `energy_per_image_j`.
    """
    fig = _figure(max(4.5, 2.2 * len(per_chip) + 2.5), 4)
    ax = fig.subplots()
    labels = list(per_chip)
    terms = list(dict.fromkeys(term for bands in per_chip.values() for term in bands["typical"]))
    bottom = np.zeros(len(labels))
    for term in terms:
        values = np.array([per_chip[x]["typical"].get(term, 0.0) * 1e6 for x in labels])
        ax.bar(labels, values, 0.6, bottom=bottom, label=term.replace("_", " "))
        bottom += values
    low = np.array([sum(per_chip[x]["low"].values()) * 1e6 for x in labels])
    high = np.array([sum(per_chip[x]["high"].values()) * 1e6 for x in labels])
    ax.errorbar(labels, bottom, yerr=np.clip([bottom - low, high - bottom], 0, None), fmt="none", ecolor="black", capsize=6,
                label="band (low .. high)")
    ax.set_ylabel("energy per image (uJ)")
    ax.set_title("chip-level energy per image by cost term (work that is not native: counted, not priced)", fontsize=8)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def draw_fidelity(match: Mapping[str, Mapping[str, float]], metric: str = "spike match rate") -> Figure:
    """Fidelity per layer for each comparison, e.g. {"float vs norse": {layer: rate}, "fixed vs norse": {...}}."""
    comparisons = list(match)
    layers = list(next(iter(match.values())))
    fig = _figure(max(6, 0.45 * len(layers)), 3.5)
    ax = fig.subplots()
    for name in comparisons:
        ax.plot(range(len(layers)), [match[name].get(layer, np.nan) for layer in layers], marker="o", label=name)
    ax.set_xticks(range(len(layers)), layers, rotation=70, ha="right", fontsize=6)
    ax.set_ylabel(metric)
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7)
    return fig
