"""`cosmos-reason report` (an HTML page to review a job's results) and `cosmos-reason export`
(Parquet/CSV): both read the JSONL that annotate, critic, run-batch and eval write.

rows.py reads and normalizes the lines, thumbs.py draws the media previews, chart.py the critic's
ranking, page.py assembles the page from page.html/page.css/page.js, export.py the tables.
Described in docs/report.md.
"""
