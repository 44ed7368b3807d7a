"""scenecraft: self-hosted, scene-aware image generation with Diffusion Transformers."""

__version__ = "0.1.0"
