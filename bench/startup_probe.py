"""`convoca run` split in two for bench.scheduler: import what the run path imports
(aiogram, Convoca), write time.monotonic() to $CONVOCA_BENCH_MARK, then call bot.cli.main.
So exec → mark is the import cost and mark → first getUpdates is Convoca's own start-up."""

from __future__ import annotations

import os
import sys
import time

import aiogram  # noqa: F401

import bot.app
import bot.cli
import bot.commands
import bot.telegram
import scheduler.runner  # noqa: F401
import services.notices  # noqa: F401

if __name__ == "__main__":
    mark = os.environ.get("CONVOCA_BENCH_MARK")
    if mark:
        with open(mark, "w") as f:
            f.write(repr(time.monotonic()))
    sys.exit(bot.cli.main(["run"]))
