"""Stage 2 — protocol: features in, per-run metrics out.

In: frame features ``X`` (N, D) with labels ``y`` (N,) and, where a protocol needs them,
the clip of every frame (:class:`~anomaly_ref.protocol.features.FrameFeatures`). Out: a
:class:`~anomaly_ref.protocol.records.ProtocolResult` (per-run and per-fold metrics,
epochs, seeds, the measured train/test frame overlap).

- :mod:`.features` — the paper's normal/anomaly pair loading (PROTOCOL §4.1-2), FrameFeatures;
- :mod:`.sequences` — windows of frames (the paper's shuffled ones, temporal ones);
- :mod:`.splits` — the paper's split, validation carves, clip-grouped k-fold, frame overlap;
- :mod:`.heads` — LSTM / GRU / LSTM_GRU / SimpleRNN / Dense / last-frame, Keras' initialisation;
- :mod:`.train` — one fit as Keras ``fit`` (Adam, BCE, early stopping);
- :mod:`.batched` — K fits of one head at once (the default trainer);
- :mod:`.adam` — Keras' Adam arithmetic, for one model or K stacked ones;
- :mod:`.metrics` — accuracy, precision, recall, F1, ROC-AUC; mean ± population std;
- :mod:`.rocauc` — weighted ROC-AUC for many weight or label vectors after one sort;
- :mod:`.stats` — out-of-fold score tables: per-fold, rank-pooled, raw pooled and within-clip
  AUC, clip-bootstrap intervals, paired differences, mean ± both stds;
- :mod:`.nulls` — chance references: the base-rate scorer, a clip label-permutation null;
- :mod:`.records` — what a run records (fold, run, protocol results);
- :mod:`.runner` — a supervised rung of the ladder: windows, splits, fits, scores per run;
- :mod:`.oneclass` — the ``standard`` rung: one-class scorers fit on normal training clips;
- :mod:`.keras_ref` — the notebooks' Keras models (a peer for parity tests and benchmarks;
  needs the ``test`` extra's ``keras``).

May use :mod:`anomaly_ref.data` and :mod:`anomaly_ref.frames`; never extraction or results.
"""
