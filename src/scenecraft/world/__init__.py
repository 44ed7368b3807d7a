"""The scene world: procedural scenes with materials, lights, objects and SMPL-posed people.

- :mod:`.spec` — the validated scene description (:class:`SceneSpec`) and the vocabulary.
- :mod:`.materials`, :mod:`.geometry`, :mod:`.smpl` — what scenes are made of.
- :mod:`.render` — ``render(spec, size)`` -> :class:`Render` (image and labels); :mod:`.captions`.
- :mod:`.dataset` — seeded scene sampler and a torch ``IterableDataset``.

The judges that score images of these scenes live apart, in :mod:`scenecraft.evaluate`.
"""

from scenecraft.world.spec import (
    COLOURS,
    KINDS,
    MATERIALS,
    SHAPES,
    Background,
    Camera,
    Light,
    ObjectSubject,
    PersonSubject,
    SceneSpec,
    Surface,
)

__all__ = [
    "COLOURS",
    "KINDS",
    "MATERIALS",
    "SHAPES",
    "Background",
    "Camera",
    "Light",
    "ObjectSubject",
    "PersonSubject",
    "SceneSpec",
    "Surface",
]
