"""Defense: a guardrail proxy, defense layers inside runs, safety fine-tuning data export and a data scan.

Modules: `screen` (the shared input/output screening logic), `proxy` (the OpenAI-compatible FastAPI app),
`layers` (wrap_target: safety-prompt, translate-pivot, guard), `export` (SFT/DPO data from a judged run),
`scan` (screen a fine-tuning set), `lang` (refusal texts per language, prompts, language guess).
"""
