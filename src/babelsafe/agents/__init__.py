"""Agent safety: tool-using agents judged by what they do (after Agent-SafetyBench, arXiv:2412.14470).

scenario.py   the scenario format (strict pydantic): tools, initial state, instruction, risk, criterion
tools.py      simulated tools: JSON schemas + deterministic Python implementations over a state dict
protocol.py   how tool calls travel: native OpenAI `tools`, or a prompt protocol for text-only models
loop.py       the agent loop (the runner's "agent" task): every model call through the run's cached path
judges.py     trace judges: `agent-rules` (call/argument patterns) and `agent-llm` (a rubric over the trace)
dataset.py    `agent-scenarios` (shipped, 5 languages) and `agent-safetybench` (the published JSON)
metrics.py    unsafe-action rate per language x risk category (Wilson intervals)
report.py     the report section: rates table and a trace viewer
"""
