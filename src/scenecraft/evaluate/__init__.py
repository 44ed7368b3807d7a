"""The judges: frozen networks and measurements that score images of scene-world requests.

Apart from the world they judge (:mod:`scenecraft.world` makes the scenes; this package reads
images of them), in files by concept:

- :mod:`.nets` — the networks (material, segmenter, keypoints) and their named architectures;
- :mod:`.views` — the one crop / resize / degrade path from an image to network input;
- :mod:`.detection` — per-pixel maps to one box, kind and colour per subject;
- :mod:`.colour`, :mod:`.light` — a subject's colour from its own pixels; the side the light comes from;
- :mod:`.judges` — :class:`~.judges.Evaluators` (load, versioned weights, image-in labels-out);
- :mod:`.metrics` — :func:`~.metrics.score_images` (generated images against requests) and
  :func:`~.metrics.held_out_report` (the judges on fresh renders);
- :mod:`.examples`, :mod:`.sources`, :mod:`.trainer` — training examples, where they come from
  (live renders or stored chunks), and the one streaming trainer; :mod:`.colour_data` fits the colour reader;
- :mod:`.cli` — ``scenecraft eval train | chunks | fit-colour | freeze | score``.
"""
