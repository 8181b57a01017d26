"""Cross-lingual answer consistency (XLingEval, Jin et al., WWW 2024): the same benign question in N
languages, each answer compared with the same target's pivot-language answer (back-translation + chrF,
or an LLM equivalence rubric), plus a Yes/No verifiability flag per answer.

dataset.py (`consistency:path=FILE`, `xling-mini`), task.py (the `consistency` task), judge.py (the
`consistency` judge); the panel is metrics/xling.py, the report section is in the report template.
"""
