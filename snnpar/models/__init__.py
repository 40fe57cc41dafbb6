"""Models: the Spikingformer student, the VTB teacher and the ViT baseline, by preset name."""

from snnpar.models.recording import record_spikes, spiking_layers
from snnpar.models.registry import create_model, list_models, model_kind

__all__ = ["create_model", "list_models", "model_kind", "record_spikes", "spiking_layers"]
