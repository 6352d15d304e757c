"""Stage 3 — studies: run the stages below for one study and return one result document.

In: inputs (feature files, frame sources, masks) and a frozen config. Out: one result
document (a dict with ``kind``, the figures, and provenance collected before the work
began) that :mod:`anomaly_ref.results` reads and renders and the CLI writes. One module per
study; the CLI and the bench call one function per study and never assemble a study out of
the lower stages themselves:

- :mod:`.reproduce` — the paper protocol (or another supervised rung) on one feature pair;
- :mod:`.audit` — the leakage audit: every rung of the protocol ladder on the same frames;
- :mod:`.inputs` — the audit's inputs (frames or feature folders), opened cheaply first;
- :mod:`.gradcam` — Grad-CAM++ maps of a frame source, scored on its pixel masks.

May use :mod:`anomaly_ref.protocol`, :mod:`anomaly_ref.extraction` and the stages below
them. Sits beside :mod:`anomaly_ref.results`: a study never renders a report and the
results stage never runs a study, so neither imports the other.
"""
