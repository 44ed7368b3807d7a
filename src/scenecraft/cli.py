"""The `scenecraft` command line.

Each sub-command lives next to the code it drives, in a module with two functions:
``register(parser)`` adds its arguments, ``run(args) -> int`` does the work. Modules are imported
only when their command runs, so `scenecraft serve` never pays for importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from scenecraft import __version__

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("scenecraft.generate_cli", "generate images with a DiT"),
    "serve": ("scenecraft.api.serve_cli", "start the platform (API, workers, storage) in one command"),
    "worker": ("scenecraft.jobs.worker_cli", "run standalone workers against a shared database"),
    "models": ("scenecraft.families.cli", "the model library: list, inspect, verify installed DiT families"),
    "admin": ("scenecraft.admin_cli", "users, passwords, key rotation, audit verification"),
    "effects": ("scenecraft.effects.cli", "apply an effects chain to an image (stills, WebP/GIF animations)"),
    "world": ("scenecraft.world.cli", "procedural scenes: render and sample, with labels"),
    "eval": ("scenecraft.evaluate.cli", "the frozen judges of scene images: train, fit, freeze, score"),
    "train": ("scenecraft.train.cli", "train a scene-aware DiT on the scene world (CPU, GPU, torchrun)"),
    "distill": ("scenecraft.train.distill_cli", "distil a one-pass, few-step student from a scene model"),
    "upsampler": ("scenecraft.train.upsampler_cli", "train and score the learned x2 upsampler of the bundled model"),
}


class UsageError(Exception):
    """A bad command-line input: printed as `scenecraft: error: ...`, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scenecraft", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"scenecraft {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.register(cmd)
        cmd.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except UsageError as exc:
        parser.exit(2, f"scenecraft {args.command}: error: {exc}\n")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
