"""Use cases shared by every front end: the chat (handlers/), the command line (bot/cli*.py),
the scheduler and whatever comes next (a web panel). Each takes the session (the unit of
work) and ``now`` and returns plain results; none knows of a Turn, a chat or a channel, and
nothing here imports handlers/ or bot/ (tests/test_layers.py holds the rules)."""
