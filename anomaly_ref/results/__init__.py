"""Stage 3 — results: read result files, put our figures beside the paper's, render reports.

In: result documents written by :mod:`anomaly_ref.studies` (and the bench), and the paper's
workbooks. Out: the published table
(``reference/paper_results.csv``), per-metric diffs with a tolerance verdict, reports.

- :mod:`.workbook` — parse the paper's four workbooks into the published table;
- :mod:`.compare` — our summary beside the paper's, and the tolerance rule;
- :mod:`.report` — the diff report (JSON + Markdown).
- :mod:`.sources`, :mod:`.verdicts` — result files of every kind read into one shape, judged;
- :mod:`.full_report` (with :mod:`.report_html`, :mod:`.report_xlsx`, :mod:`.report_plots`) — the report;
- :mod:`.caserecords` — the bench's per-case records merged into one sweep file;
- :mod:`.audit_report` (with :mod:`.audit_doc`, :mod:`.audit_tables`, :mod:`.audit_text`,
  :mod:`.audit_steps`, :mod:`.audit_plot`), :mod:`.gradcam_report` — an audit's and a Grad-CAM++
  study's documents rendered.

Only reads and renders: it never runs a study (that is :mod:`anomaly_ref.studies`, its
sibling, which it does not import). May use the stages below (protocol, extraction, data,
frames) for their constants and pure helpers.
"""
