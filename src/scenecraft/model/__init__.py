"""Models: the Diffusion Transformer, its named configs, checkpoints and decoders.

from scenecraft.model import build_dit
model = build_dit("DiT-XL/2")                   # 256 px (32x32 latents)
model = build_dit("DiT-XL/2", input_size=64)    # 512 px
out = model(x, t, y)                            # official arguments
out = model.forward_with_cfg(x, t, y, 4.0)      # official guidance
"""

from scenecraft.model.configs import DIT_CONFIGS, UnknownModelError, build_dit, get_config
from scenecraft.model.dit import DiT, DiTConfig

__all__ = ["DIT_CONFIGS", "DiT", "DiTConfig", "UnknownModelError", "build_dit", "get_config"]
