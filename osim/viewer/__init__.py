"""``osim replay serve``: a local, read-only web viewer over a replay store.

Runs, a filterable list of a run's episodes, one episode as a conversation (with "view as": one
agent's observation, rendered by the env itself), and two episodes of one scenario side by side.
Server-rendered Starlette pages with Jinja2 (autoescaped: no text from a model or a data row is
ever markup) and one small script; no build step. Needs the ``[viewer]`` extra; the README's
"Sweeps and the replay store" section shows it (docs/viewer.png).
"""
