"""The osim application: the ``osim`` command, the rollout runner and (soon) sweeps, the leaderboard
and the replay viewer. It sits on top of every other package and may import all of them; nothing
below imports it."""
