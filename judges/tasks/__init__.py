"""Task judges whose scenario folders do not exist yet (CoSER, MirrorBench, UserLLM).

Each moves to ``scenarios/<task>/judge.py`` when its scenario is built; the formulas are documented in
docs/judges.md#task-judges.
"""
