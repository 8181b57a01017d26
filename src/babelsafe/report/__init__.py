"""Reports: a self-contained report.html (inline SVG charts, no network), results.csv/.parquet exports."""
