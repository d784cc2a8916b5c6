"""How every ``vsr-*`` command ends: one exit-status convention and one error format.

====== ==========================================================================
status meaning
====== ==========================================================================
0      done
1      a problem the user can fix (:class:`vsr.errors.UserError`, or the system refused a
       file operation: a full disk, a missing permission), printed as one line
2      the command line itself is wrong (argparse's usage error)
130    interrupted (Ctrl-C, or SIGTERM from a job scheduler), after cleaning up
====== ==========================================================================

Anything else is a bug: it propagates with its traceback.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable

from vsr.errors import UserError

OK, USER_ERROR, USAGE_ERROR, INTERRUPTED = 0, 1, 2, 130


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_command(
    prog: str, body: Callable[[], int | None], interrupted: str = "interrupted",
    sigterm: bool = True,
) -> int:
    """Run a command's ``body`` and turn how it ended into an exit status (see above).

    Args:
        prog: the command's name, the prefix of its messages.
        body: does the work; returns None or a status.
        interrupted: what to print when the run is interrupted (what was kept or not).
        sigterm: treat SIGTERM as Ctrl-C (off where a library handles it itself, as
            Lightning does for SLURM's requeue).
    """
    # A scheduler's SIGTERM cleans up like Ctrl-C (temporary files removed). Signal handlers
    # can only be set from the main thread.
    main_thread = sigterm and threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        return body() or OK
    except UserError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return USER_ERROR
    except OSError as exc:  # the system refused: a full disk, permissions, a vanished file
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return USER_ERROR
    except KeyboardInterrupt:
        print(f"{prog}: {interrupted}", file=sys.stderr)
        return INTERRUPTED
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
