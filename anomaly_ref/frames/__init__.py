"""Stage 1 — frames: every dataset layout the paper reads, as lazily decoded frame sequences.

In: a path (an ``.npz`` of ``$ANOMALY_REF_SHARED/data``, a UCSD ``Test/`` folder, an Avenue
root, ``normal/`` + ``abnormal/`` image folders). Out: a
:class:`~anomaly_ref.frames.base.FrameSequence` of ``(H, W, 3)`` uint8 RGB frames with
clip, index and label per frame.

- :mod:`.base` — :class:`~.base.Frame`, :class:`~.base.FrameSequence`, pixel conversion;
- :mod:`.sources` — npz, image folders, UCSD, and :func:`~.sources.open_source` (layout detection);
- :mod:`.video` — CUHK Avenue test videos with their pixel-mask labels;
- :mod:`.augment` — the notebooks' balancing copies as pure functions on image arrays;
- :mod:`.construction` — the authors' file constructions (PROTOCOL §1) over any source;
- :mod:`.masks` — pixel masks of abnormal regions, paired row by row with a frame source.

Uses only the shared top-level modules (errors, registry).
"""
