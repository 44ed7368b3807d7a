"""Training the scene-aware DiT on the scene world: data (data.py), the loop (trainer.py),
held-out requests and scoring (validation.py), the ``scenecraft train`` command (cli.py)."""
