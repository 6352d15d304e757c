"""Stage 2 — protocol: features in, per-run metrics out.

In: frame features ``X`` (N, D) and labels ``y`` (N,). Out: a
:class:`~anomaly_ref.protocol.runner.ProtocolResult` (per-run metrics, epochs, seeds).

- :mod:`.features` — the paper's normal/anomaly pair loading (PROTOCOL §4.1-2);
- :mod:`.sequences` — windows of frames (the paper's shuffled ones, temporal ones);
- :mod:`.heads` — LSTM / GRU / LSTM_GRU / SimpleRNN / Dense with Keras' initialisation;
- :mod:`.train` — Adam + BCE with early stopping, as Keras ``fit``;
- :mod:`.metrics` — accuracy, precision, recall, F1, ROC-AUC; mean ± population std;
- :mod:`.runner` — the protocols: windows, splits, fits and scores per run.

May use :mod:`anomaly_ref.data` and :mod:`anomaly_ref.frames`; never extraction or results.
"""
