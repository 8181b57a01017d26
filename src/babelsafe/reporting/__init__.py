"""Reports: a self-contained report.html (inline SVG charts, no network), results.csv/.parquet exports.

The Python entry point is `babelsafe.report(run_dir)` (babelsafe.api.report); this package holds the parts:
html.py (the page), svg.py (charts), exports.py (results.csv / results.parquet and the report's examples).
"""
