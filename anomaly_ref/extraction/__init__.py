"""Stage 2 — extraction: frames in, per-frame backbone features out.

In: frames (:mod:`anomaly_ref.frames`) and a backbone name (:mod:`anomaly_ref.registry`).
Out: ``(N, D)`` float32 features, in memory or streamed to the paper's feature files.

- :mod:`.backbones` — timm models by registry name, pinned weights, offline weights package;
- :mod:`.paper` — the paper's path exactly (PIL resize, batch 1, fp32; PROTOCOL §2);
- :mod:`.fast` — batched, channels-last, bf16 path with device-side PIL-exact resize;
- :mod:`.resize` — PIL's bilinear resize arithmetic in torch.
- :mod:`.gradcam` — Grad-CAM++ maps (the paper's formula and the textbook one) on pytorch-grad-cam;
- :mod:`.localisation` — scores of a map against a pixel mask, and the centre-prior and motion baselines;
- :mod:`.anomaly_head` — a cross-fitted logistic anomaly head on pooled features, for Grad-CAM++.

May use :mod:`anomaly_ref.data` and :mod:`anomaly_ref.frames`; never protocol or results.
"""
