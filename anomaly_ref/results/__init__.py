"""Stage 3 — results: our figures beside the paper's, and the reports a reader opens.

In: protocol results and the paper's workbooks. Out: the published table
(``reference/paper_results.csv``), per-metric diffs with a tolerance verdict, reports.

- :mod:`.workbook` — parse the paper's four workbooks into the published table;
- :mod:`.compare` — our summary beside the paper's, and the tolerance rule;
- :mod:`.report` — the diff report (JSON + Markdown).
- :mod:`.gradcam`, :mod:`.gradcam_report` — Grad-CAM++ maps scored on pixel masks, rendered.

May use every lower stage (protocol, extraction, data, frames).
"""
