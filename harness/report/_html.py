"""report.html: the run as one self-contained page people look at.

One file that opens from disk with no network: CSS, the copy buttons' script
and every picture (SVG rendered by matplotlib) are inline. It shows the
failure-model table in the seed's Step 14 columns with a coloured verdict per
row, and for each row what a reader needs to believe and rerun it: the
evidence in words, the minimal schedule, the reproduction rate, the replay
commands with a copy button, a Jepsen-style timeline of the failing history
and the row's latency over time with the fault windows shaded.

A picture that cannot be drawn (a history deleted, matplotlib missing) is
replaced by a sentence saying why: the page is always written.
"""

from __future__ import annotations

import functools
import html
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

from harness.history import read_history
from harness.report._model import DesignReport, RowResult, evidence_parts
from harness.report._phases import EXPLAINED, pace, phase_cells, phase_labels, stalled, timed
from harness.schedule.answers import describe, refusal_notes

# Latency pictures read at most this many of a row's examples (the first ones).
MAX_LATENCY_HISTORIES = 200
STATUS_CLASS = {
    "PASS": "pass",
    "FAIL": "fail",
    "INCONCLUSIVE": "inconclusive",
    "NOT EXERCISED": "not-exercised",
    "ERROR": "error",
    "INTERRUPTED": "interrupted",
}
_NEEDS_DETAIL = ("FAIL", "ERROR", "INCONCLUSIVE", "INTERRUPTED")

CSS = """
:root { --pass:#2e7d32; --fail:#c62828; --inconclusive:#b26a00; --not-exercised:#616161;
        --error:#6a1b9a; --interrupted:#1565c0; --line:#dde1e6; --muted:#5f6368; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #202124; background: #f6f7f9; }
main { max-width: 1500px; margin: 0 auto; padding: 20px 28px 60px; }
h1 { font-size: 22px; margin: 0 0 8px; display: flex; gap: 12px; align-items: center; }
h2 { font-size: 17px; margin: 0 0 10px; display: flex; gap: 10px; align-items: center;
     flex-wrap: wrap; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.meta { color: var(--muted); margin: 0 0 4px; }
.meta code { color: #202124; }
.summary { margin: 8px 0 0; font-weight: 600; }
section, header { background: #fff; border: 1px solid var(--line); border-radius: 8px;
                  padding: 16px 20px; margin: 16px 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left;
         vertical-align: top; }
th { background: #f1f3f4; position: sticky; top: 0; font-weight: 600; }
td.num { text-align: right; white-space: nowrap; }
td.id { white-space: nowrap; }
.pill { display: inline-block; padding: 2px 9px; border-radius: 999px; color: #fff;
        font-size: 12px; font-weight: 700; letter-spacing: .02em; white-space: nowrap; }
.pill.pass { background: var(--pass); } .pill.fail { background: var(--fail); }
.pill.inconclusive { background: var(--inconclusive); }
.pill.not-exercised { background: var(--not-exercised); }
.pill.error { background: var(--error); } .pill.interrupted { background: var(--interrupted); }
section.row.fail { border-left: 5px solid var(--fail); }
section.row.error { border-left: 5px solid var(--error); }
section.row.inconclusive { border-left: 5px solid var(--inconclusive); }
section.row.interrupted { border-left: 5px solid var(--interrupted); }
section.row.pass { border-left: 5px solid var(--pass); }
section.row.not-exercised { border-left: 5px solid var(--not-exercised); }
pre { background: #f8f9fa; border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px;
      overflow-x: auto; font-size: 12.5px; margin: 4px 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.cmd { display: flex; gap: 8px; align-items: flex-start; margin: 4px 0; }
.cmd pre { flex: 1; margin: 0; white-space: pre-wrap; word-break: break-all; }
button.copy { border: 1px solid #9aa0a6; background: #fff; border-radius: 6px; padding: 5px 10px;
              cursor: pointer; font-size: 12px; }
button.copy:hover { background: #f1f3f4; } button.copy.done { border-color: var(--pass);
              color: var(--pass); }
ul.evidence { margin: 4px 0 8px; padding-left: 20px; } ul.evidence li { margin: 2px 0; }
.slo.met { color: var(--pass); } .slo.missed { color: var(--fail); font-weight: 600; }
.slo.unmeasured { color: var(--not-exercised); } table.slos td { vertical-align: top; }
.refs { color: var(--muted); font-size: 12px; }
figure { margin: 10px 0; } figure svg { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12px; }
details > summary { cursor: pointer; color: #1a73e8; margin: 6px 0; }
.rate { font-weight: 600; }
.nopic { color: var(--muted); font-style: italic; }
.faults code { display: inline-block; margin: 1px 2px 1px 0; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0; }
dl.kv dt { color: var(--muted); } dl.kv dd { margin: 0; }
footer { color: var(--muted); font-size: 12px; text-align: center; }
"""

SCRIPT = """
function failmodelCopy(button) {
  var text = button.getAttribute('data-copy');
  function done() {
    button.classList.add('done'); button.textContent = 'Copied';
    setTimeout(function () { button.classList.remove('done'); button.textContent = 'Copy'; }, 1500);
  }
  function fallback() {
    var area = document.createElement('textarea');
    area.value = text; area.style.position = 'fixed'; area.style.opacity = '0';
    document.body.appendChild(area); area.select();
    try { document.execCommand('copy'); done(); } finally { document.body.removeChild(area); }
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, fallback);
  } else { fallback(); }
}
document.addEventListener('click', function (event) {
  var target = event.target;
  if (target && target.classList && target.classList.contains('copy')) { failmodelCopy(target); }
});
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def slug(text: str) -> str:
    """An HTML id fragment: lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "row"


def _pill(status: str) -> str:
    return f'<span class="pill {STATUS_CLASS.get(status, "error")}">{_e(status)}</span>'


def _coverage(row: RowResult) -> str:
    shown = [f"{k} {v}" for k, v in row.coverage.items() if v]
    return _e(", ".join(shown) if shown else "none")


def _faults(row: RowResult) -> str:
    return " ".join(f"<code>{_e(f)}</code>" for f in row.faults) or "-"


def schedule_replay_command(report: DesignReport, row: RowResult, *, times: int = 5) -> str:
    """``failmodel replay`` of the row's minimal schedule ('' without a counterexample)."""
    if row.counterexample is None:
        return ""
    return shlex.join(
        [
            "failmodel",
            "replay",
            str(row.counterexample.schedule_path),
            "--design",
            str(report.design_path),
            "--row",
            row.row_id,
            "--variant",
            report.variant,
            "--times",
            str(times),
        ]
    )


def _command(label: str, command: str) -> str:
    return (
        f"<div class='cmd-label'>{_e(label)}</div><div class='cmd'><pre><code>{_e(command)}"
        f"</code></pre><button class='copy' type='button' data-copy='{_e(command)}' "
        f"title='copy to the clipboard'>Copy</button></div>"
    )


def _stamp(paths: Sequence[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in paths:
        try:
            st = p.stat()
            out.append((str(p), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(p), -1, -1))
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _timeline_cached(stamp: tuple[tuple[str, int, int], ...], svg_id: str, title: str) -> str:
    from harness.report._plots import timeline_svg

    return timeline_svg(read_history(Path(stamp[0][0])), svg_id=svg_id, title=title)


@functools.lru_cache(maxsize=256)
def _latency_cached(stamp: tuple[tuple[str, int, int], ...], svg_id: str, title: str) -> str:
    from harness.report._plots import latency_svg

    histories = []
    for path, mtime, _ in stamp:
        if mtime >= 0:  # a deleted example is left out, not fatal
            histories.append(read_history(Path(path)))
    if not histories:
        raise FileNotFoundError("none of the row's example histories is on disk any more")
    return latency_svg(histories, svg_id=svg_id, title=title)


def _picture(kind: str, draw: functools.partial[str], caption: str) -> str:
    try:
        svg = draw()
    except Exception as exc:  # a picture must never cost the page (or the run) its report
        return f"<p class='nopic'>(no {kind} picture: {_e(type(exc).__name__)}: {_e(exc)})</p>"
    return f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>"


def timeline_figure(row: RowResult) -> str:
    ce = row.counterexample
    if ce is None:
        return ""
    caption = (
        "Timeline of the minimal counterexample: one lane per client process and the replica "
        "it called (c0 → n1: client 0 on target-1); bars run from invoke to completion, "
        "green ok, red fail (surely no effect), orange info (indeterminate; hatched: never "
        "answered); shaded: a fault is active. History: "
        f"{ce.history_path}"
    )
    return _picture(
        "timeline",
        functools.partial(
            _timeline_cached,
            _stamp([ce.history_path]),
            f"timeline-{slug(row.row_id)}",
            f"{row.row_id}: timeline of the minimal counterexample",
        ),
        caption,
    )


def latency_figure(row: RowResult) -> str:
    paths = list(row.histories[:MAX_LATENCY_HISTORIES])
    if not paths:
        return ""
    shown = (
        f"the first {len(paths)} of {len(row.histories)}"
        if len(row.histories) > len(paths)
        else f"all {len(paths)}"
    )
    caption = (
        f"Latency of every operation over the row's {shown} examples, one after another "
        "(thin lines separate them); colour: operation type, marker: outcome; shaded: a fault "
        "is active."
    )
    return _picture(
        "latency",
        functools.partial(
            _latency_cached,
            _stamp(paths),
            f"latency-{slug(row.row_id)}",
            f"{row.row_id}: latency over time",
        ),
        caption,
    )


def _slo_cell(row: RowResult) -> str:
    """The table's SLO column: each promise with what was measured."""
    if not row.slos:
        return "-"
    return "<br>".join(
        f"<span class='slo {_SLO_CLASS[slo.met]}'>{_e(slo.text)}: {_e(slo.shown)}</span>"
        for slo in row.slos
    )


_SLO_CLASS = {True: "met", False: "missed", None: "unmeasured"}


def _slos(row: RowResult) -> list[str]:
    if not row.slos:
        return []

    out = [
        "<h3>SLOs</h3>",
        "<table class='slos'><thead><tr><th>SLO</th><th>promise</th><th>measured</th>"
        "<th>distribution</th><th>verdict</th><th>note</th></tr></thead><tbody>",
    ]
    for slo in row.slos:
        out.append(
            f"<tr class='slo {_SLO_CLASS[slo.met]}'><td><code>{_e(slo.text)}</code></td>"
            f"<td>{_e(slo.promise)}</td><td class='num'>{_e(slo.shown)}</td>"
            f"<td>{_e(slo.spread)}</td><td>{slo.verdict}</td><td>{_e(slo.note or '-')}</td></tr>"
        )
    out.append("</tbody></table>")
    return out


def _evidence(row: RowResult) -> list[str]:
    ce = row.counterexample
    if ce is None:
        return []
    out = ["<h3>Evidence</h3>", "<ul class='evidence'>"]
    for v in ce.violated:
        out.append(f"<li><code>{_e(v.invariant)}</code> ({_e(v.status)}): {_e(v.summary)}<ul>")
        for ev in v.evidence:
            first, refs, rest = evidence_parts(ev)
            ref = f" <span class='refs'>({_e(refs)})</span>" if refs else ""
            more = f"<pre>{_e(rest)}</pre>" if rest.strip() else ""
            out.append(f"<li>{_e(first)}{ref}{more}</li>")
        out.append("</ul></li>")
    out.append("</ul>")
    if ce.late:
        out.append(
            "<p>Found late: side effects that landed after the example was judged were "
            "attributed to it by the ids they carry and judged at the end of the row; the "
            "schedule is not shrunk.</p>"
        )
    rate = f"{ce.reproduced}/{ce.attempts}"
    pct = f" ({100 * ce.reproduced / ce.attempts:.0f} %)" if ce.attempts else ""
    out += [
        "<h3>Minimal schedule</h3>",
        f"<pre>{_e(chr(10).join(ce.schedule_lines))}</pre>",
        f"<p>Reproduced <span class='rate'>{rate}</span>{pct} replays of the minimal schedule.</p>",
    ]
    if ce.timing_note:
        out.append(f"<p>{_e(ce.timing_note)}</p>")
    return out


def _spans(text: str) -> str:
    """``text`` escaped, its `backticked` names set as code (as report.md shows them)."""
    parts = _e(text).split("`")
    if len(parts) % 2 == 0:  # an odd backtick: shown as typed
        return _e(text)
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _answers(row: RowResult) -> list[str]:
    """How the row's writes were answered, one line per write."""
    if not row.answers:
        return []
    lines = "<br>".join(
        f"<code>{_e(f)}</code>: {_e(describe(kinds))}" for f, kinds in sorted(row.answers.items())
    )
    return [f"<dt>answers</dt><dd>{lines}</dd>"]


def _row_section(report: DesignReport, row: RowResult) -> str:
    cls = STATUS_CLASS.get(row.status, "error")
    out = [
        f"<section class='row {cls}' id='row-{slug(row.row_id)}'>",
        f"<h2>{_pill(row.status)} <code>{_e(row.row_id)}</code> — {_e(row.failure_mode)}</h2>",
        "<dl class='kv'>",
        f"<dt>correct behaviour</dt><dd>{_e(row.correct_behaviour)}</dd>",
        f"<dt>mechanism</dt><dd>{_e(row.mechanism)}</dd>",
        f"<dt>examples</dt><dd>{row.examples} in {row.duration_s:.1f} s"
        + (
            f"; first failure after {row.first_failure_example} examples "
            f"({row.first_failure_s:.1f} s)"
            if row.first_failure_example is not None and row.first_failure_s is not None
            else ""
        )
        + "</dd>",
        f"<dt>faults injected</dt><dd class='faults'>{_faults(row)}</dd>",
        f"<dt>coverage</dt><dd>{_coverage(row)}</dd>",
        *_answers(row),
        f"<dt>seed</dt><dd><code>{row.seed}</code></dd>",
        "</dl>",
    ]
    if row.reason:
        out.append(f"<p><strong>Why:</strong> {_e(row.reason)}</p>")
    out += [f"<p><strong>Note:</strong> {_spans(note)}</p>" for note in refusal_notes(row.answers)]
    if row.error:
        out.append(f"<h3>Error</h3><pre>{_e(row.error)}</pre>")
    out += _evidence(row)
    out += _slos(row)
    if row.judged:
        out.append("<h3>Judged</h3><ul class='evidence'>")
        out += [
            f"<li><code>{_e(name)}</code>: {_e(j.describe())}</li>"
            for name, j in row.judged.items()
        ]
        out.append("</ul>")
    if row.replay_command or row.counterexample is not None:
        out.append("<h3>Rerun</h3>")
    if row.counterexample is not None:
        out.append(_command("replay the minimal schedule:", schedule_replay_command(report, row)))
    if row.replay_command:
        out.append(_command("rerun the row's search with its seed:", row.replay_command))
    ce = row.counterexample
    if ce is not None:
        out.append("<dl class='kv'>")
        out.append(f"<dt>history</dt><dd><code>{_e(ce.history_path)}</code></dd>")
        out.append(f"<dt>schedule</dt><dd><code>{_e(ce.schedule_path)}</code></dd>")
        if ce.original_history_path is not None:
            out.append(
                f"<dt>before shrinking</dt><dd><code>{_e(ce.original_history_path)}</code></dd>"
            )
        out.append("</dl>")
        out.append(timeline_figure(row))
    latency = latency_figure(row)
    if latency:
        if row.status in _NEEDS_DETAIL:
            out.append(latency)
        else:
            out.append(f"<details><summary>latency over time</summary>{latency}</details>")
    out.append("</section>")
    return "\n".join(out)


def _table(report: DesignReport) -> str:
    head = (
        "<tr><th>row</th><th>failure mode</th><th>can it happen</th><th>correct behaviour</th>"
        "<th>mechanism</th><th>recovery</th><th>verdict</th><th>examples</th>"
        "<th>faults injected</th><th>coverage</th><th>judged</th><th>SLOs</th><th>time</th></tr>"
    )
    body = []
    for r in report.rows:
        body.append(
            f"<tr class='{STATUS_CLASS.get(r.status, 'error')}'>"
            f"<td class='id'><a href='#row-{slug(r.row_id)}'><code>{_e(r.row_id)}</code></a></td>"
            f"<td>{_e(r.failure_mode)}</td><td>{_e(r.can_happen or '-')}</td>"
            f"<td>{_e(r.correct_behaviour)}</td><td>{_e(r.mechanism)}</td>"
            f"<td>{_e(r.recovery or '-')}</td><td>{_pill(r.status)}</td>"
            f"<td class='num'>{r.examples}</td><td class='faults'>{_faults(r)}</td>"
            f"<td>{_coverage(r)}</td><td class='num'>{_e(r.least_judged())}</td>"
            f"<td>{_slo_cell(r)}</td><td class='num'>{r.duration_s:.1f} s</td></tr>"
        )
    return (
        "<section id='failure-model'><h2>Failure model</h2><table><thead>"
        + head
        + "</thead><tbody>"
        + "\n".join(body)
        + "</tbody></table></section>"
    )


def _time_table(report: DesignReport) -> str:
    """Where each row's time went (the same table as report.md's)."""
    rows = timed(report.rows)
    if not rows:
        return ""
    head = "".join(f"<th>{_e(label)}</th>" for label in phase_labels(rows))
    body = [
        f"<tr><td class='id'><code>{_e(r.row_id)}</code></td><td class='num'>{r.examples}</td>"
        f"<td class='num'>{pace(r)}</td><td class='num'>{stalled(r)}</td>"
        + "".join(f"<td class='num'>{_e(c.text())}</td>" for c in phase_cells(r, rows))
        + "</tr>"
        for r in rows
    ]
    return (
        f"<section id='time'><h2>Where the time went</h2><p>{_e(EXPLAINED)}</p>"
        "<table><thead><tr><th>row</th>"
        f"<th>examples</th><th>examples/min</th><th>CPU stalled</th>{head}</tr></thead><tbody>"
        + "\n".join(body)
        + "</tbody></table></section>"
    )


def render_html(report: DesignReport) -> str:
    """The whole report.html text: no external resource, opens from disk."""
    title = f"failmodel: {report.design_name} — {report.status}"
    rows = report.rows
    ordered = [r for r in rows if r.status in _NEEDS_DETAIL] + [
        r for r in rows if r.status not in _NEEDS_DETAIL
    ]
    parts = [
        "<!doctype html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><main>",
        "<header id='summary'>",
        f"<h1>failmodel: {_e(report.design_name)} {_pill(report.status)}</h1>",
        f"<p class='meta'>design <code>{_e(report.design_path)}</code> · variant "
        f"<code>{_e(report.variant)}</code> · profile <code>{_e(report.profile)}</code> · "
        f"strategy <code>{_e(report.strategy)}</code> · "
        f"started {_e(report.started_at)} · took {report.duration_s:.1f} s</p>",
        f"<p class='summary'>{_e(report.summary())}</p>",
        "</header>",
        _table(report),
        *(_row_section(report, r) for r in ordered),
        _time_table(report),
        "<footer>Written by failmodel; report.md and report.json beside this file hold the "
        "same run.</footer>",
        f"</main><script>{SCRIPT}</script></body></html>",
    ]
    return "\n".join(parts) + "\n"
