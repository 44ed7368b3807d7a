"""Real DiT families (PixArt-α/Σ, SANA, SD3/3.5, FLUX.1) from local weights, through diffusers.

    spec.py      the family table (torch-free): sizes, defaults, capabilities
    library.py   what is installed in models_dir, read from files (torch-free; the API uses it)
    runner.py    one loaded model: generate a batch with previews, cancel, refusals
    scene.py     our scene-aware request -> the family's pipeline and arguments
    regional.py  per-subject attention masks (training-free regional prompting)
    previews.py  the scheduler's clean estimate -> RGB through a fitted linear map
    tiny.py      tiny random models of every family (tests, benchmarks)
    cli.py       `scenecraft models list | inspect | verify`
"""
