"""Showing progress events (harness.progress) to a person: ``rich`` on a terminal,
plain lines when the output is not a terminal (CI logs, pipes, files).

Plain lines are complete sentences with the row, the example count, the
failures so far, the active faults and the elapsed time, so a CI log read
after the fact tells the same story the live display told. ``rich`` is
imported only when a terminal display is made.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from harness.progress import SetupEvent, SetupProgress, VerifyEvent, VerifyProgress
from harness.schedule.answers import refusal_notes


def _clock(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _faults(event: VerifyEvent) -> str:
    return "; ".join(event.faults) if event.faults else "none"


def _example(event: VerifyEvent) -> str:
    if event.budget and event.example > event.budget:
        return f"example {event.example} (past the budget of {event.budget})"
    return f"example {event.example}/{event.budget}" if event.budget else f"example {event.example}"


class PlainVerifyProgress:
    """One line per event, flushed at once: what a CI log should show."""

    def __init__(self, stream: IO[str] | None = None, *, examples: bool = True) -> None:
        self._stream = stream
        self._examples = examples

    def _say(self, text: str) -> None:
        stream = self._stream or sys.stdout
        print(text, file=stream, flush=True)

    def __call__(self, event: VerifyEvent) -> None:
        where = (
            f"[{event.design}/{event.variant}] row {event.row_index + 1}/{event.rows} {event.row}"
        )
        if event.kind == "row_started":
            amount = event.message or f"{event.budget} examples"
            self._say(f"{where}: searching, {amount} (seed {event.seed})")
        elif event.kind == "example_started" and self._examples:
            shrinking = f" ({event.message})" if event.message else ""
            self._say(f"{where}: {_example(event)} started{shrinking}")
        elif event.kind == "example_finished" and self._examples:
            verdict = "FAILED" if event.failed else "held"
            self._say(
                f"{where}: {_example(event)} {verdict}; failures so far {event.failures}; "
                f"elapsed {_clock(event.elapsed_s)}"
            )
        elif event.kind == "faults" and self._examples and event.faults:
            self._say(f"{where}: faults active: {_faults(event)}")
        elif event.kind == "phase":
            self._say(f"{where}: {event.message} (elapsed {_clock(event.elapsed_s)})")
        elif event.kind == "row_finished" and event.result is not None:
            r = event.result
            self._say(f"{where}: {r.status} ({r.examples} examples, {r.duration_s:.1f} s)")
            if r.status == "FAIL":
                self._say(f"  seed {r.seed}; replay: {r.replay_command}")
            for note in refusal_notes(r.answers):
                self._say(f"  note: {note}")


class RichVerifyProgress:
    """A live status line on a terminal (row, example n of N, failures so far,
    active faults, elapsed), with a finished line per row printed above it."""

    def __init__(self, console: Any | None = None) -> None:
        from rich.console import Console

        self._console = console or Console(stderr=True)
        self._status: Any = None
        self._last: VerifyEvent | None = None
        self._received = time.monotonic()

    def __rich__(self) -> Any:
        """The live line, redrawn by the spinner: the elapsed time keeps ticking
        between events (a settle or a late-effects watch can take many seconds)."""
        from rich.text import Text

        if self._last is None:
            return Text("")
        return Text.from_markup(self._line(self._last, time.monotonic() - self._received))

    def _line(self, event: VerifyEvent, since: float = 0.0) -> str:
        from rich.markup import escape

        failures = (
            f"[bold red]{event.failures} failing[/]" if event.failures else "[green]0 failing[/]"
        )
        phase = f" · {escape(event.message)}" if event.message else ""
        return (
            f"[bold]{escape(event.design)}/{escape(event.variant)}[/] "
            f"row {event.row_index + 1}/{event.rows} [cyan]{escape(event.row)}[/] · "
            f"{escape(_example(event))} · {failures} · faults: {escape(_faults(event))}"
            f"{phase} · {_clock(event.elapsed_s + since)}"
        )

    def __call__(self, event: VerifyEvent) -> None:
        from rich.markup import escape

        self._last = event
        self._received = time.monotonic()
        if event.kind == "row_finished" and event.result is not None:
            self.stop()
            r = event.result
            colour = {"PASS": "green", "FAIL": "red", "ERROR": "magenta"}.get(r.status, "yellow")
            self._console.print(
                f"[{colour}]{escape(r.status)}[/] {escape(event.design)}/{escape(event.variant)} "
                f"row [cyan]{escape(r.row_id)}[/] ({r.examples} examples, {r.duration_s:.1f} s)"
            )
            if r.status == "FAIL":
                self._console.print(f"  seed {r.seed}; replay: {escape(r.replay_command)}")
            for note in refusal_notes(r.answers):
                self._console.print(f"  [yellow]note:[/] {escape(note)}")
            return
        if self._status is None:
            self._status = self._console.status(self)
            self._status.start()
        else:
            self._status.update(self, spinner="dots")  # naming the spinner redraws at once

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


class PlainSetupProgress:
    """``failmodel setup: <what> ...`` when a step starts, ``... done in 12.3 s`` when it ends."""

    def __init__(self, stream: IO[str] | None = None, *, ready: bool = True) -> None:
        self._stream = stream
        self._ready = ready

    def __call__(self, event: SetupEvent) -> None:
        stream = self._stream or sys.stderr
        if event.state == "started":
            text = f"{event.message} ..."
        elif event.state == "finished":
            text = f"{event.message} (took {event.elapsed_s:.1f} s)"
        elif self._ready:
            text = event.message
        else:
            return
        print(f"failmodel setup: {text}", file=stream, flush=True)


class RichSetupProgress:
    """A spinner with the running step and its elapsed time; a tick per finished step."""

    def __init__(self, console: Any | None = None, *, ready: bool = True) -> None:
        from rich.console import Console

        self._console = console or Console(stderr=True)
        self._ready = ready
        self._status: Any = None
        self._step = ""
        self._since = time.monotonic()

    def __rich__(self) -> Any:
        from rich.text import Text

        return Text(f"{self._step} ... {_clock(time.monotonic() - self._since)}")

    def __call__(self, event: SetupEvent) -> None:
        from rich.markup import escape

        if event.state == "started":
            self.stop()
            self._step, self._since = event.message, time.monotonic()
            self._status = self._console.status(self)
            self._status.start()
            return
        self.stop()
        if event.state == "finished":
            self._console.print(
                f"[green]✓[/] {escape(event.message)} [dim](took {event.elapsed_s:.1f} s)[/]"
            )
        elif self._ready:
            self._console.print(f"[green]✓[/] {escape(event.message)}")

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def verify_progress(stream: IO[str] | None = None) -> VerifyProgress:
    """Rich on a terminal, plain lines otherwise (default stream: stderr)."""
    stream = stream or sys.stderr
    if is_terminal(stream):
        from rich.console import Console

        return RichVerifyProgress(Console(file=stream))
    return PlainVerifyProgress(stream)


def setup_progress(stream: IO[str] | None = None, *, ready: bool = True) -> SetupProgress:
    """Rich on a terminal, plain lines otherwise; ``ready=False`` keeps quiet
    about steps that had nothing to do (a warm machine prints nothing)."""
    stream = stream or sys.stderr
    if is_terminal(stream):
        from rich.console import Console

        return RichSetupProgress(Console(file=stream), ready=ready)
    return PlainSetupProgress(stream, ready=ready)
