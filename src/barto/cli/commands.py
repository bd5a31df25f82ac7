"""barto-cli commands that ask the server. Each prints a table, or JSON with ``--json``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
import typer
from rich.text import Text

from barto.api.answers import CleanupProgress, Cluster, Forgotten, Info, QueryResult, UpdatesReport
from barto.cli import alerts, btu, complete, options, render, rq, schedules
from barto.cli.client import Client, segment
from barto.cli.options import Json
from barto.model import OutputLine, RunRecord, RunState, ScheduleRecord, WorkerRecord
from barto.typer_flags import app as typer_app


def info(ctx: typer.Context, as_json: Json = False) -> None:
    """Show the server's version, uptime, store and counters, who leads and every instance."""
    data = options.client(ctx).get("/v1/info", Info)
    if as_json:
        render.emit_json(data)
        return
    cluster = data.cluster
    instances = [
        (i.name, i.role, i.url, i.pid, i.version, i.started_at, f"{i.seen_seconds_ago:.1f} s ago")
        for i in cluster.instances
    ]
    facts = {k: v for k, v in msgspec.structs.asdict(data).items() if k != "cluster"}
    render.show(
        render.table(None, ("key", "value"), sorted(facts.items())),
        _leader_line(cluster),
        render.table("instances", ("name", "role", "url", "pid", "version", "started", "seen"), instances),
    )


def _leader_line(cluster: Cluster) -> str:
    leader = next((i for i in cluster.instances if i.role == "leader"), None)
    if leader is None or cluster.lease_age_seconds is None:
        return "leader: none at the moment (a standby takes over within the lease)"
    return (
        f"leader: {leader.name} ({leader.url}), lease held {cluster.lease_age_seconds:.1f} s, "
        f"renewed {cluster.renewed_seconds_ago or 0:.1f} s ago (lease {cluster.lease_seconds:g} s); "
        f"this server is the {cluster.role}"
    )


clients_app = typer_app(help="List the workers the server knows, and whether each is connected.")


@clients_app.callback(invoke_without_command=True)
def clients(
    ctx: typer.Context,
    versions: Annotated[bool, typer.Option("--versions", help="Only names and versions.")] = False,
    as_json: Json = False,
) -> None:
    """List the workers the server knows, and whether each is connected (``forget W``: drop one)."""
    if ctx.invoked_subcommand is not None:
        return
    data = options.client(ctx).get("/v1/clients", list[WorkerRecord])
    if as_json:
        render.emit_json(data)
        return
    if versions:
        pairs = [(w.name, w.version) for w in data]
        render.show(render.table(None, ("name", "version"), pairs), f"Total clients: {len(data)}")
        return
    rows = [
        (w.name, "yes" if w.connected else "no", w.host.get("os_name"), w.host.get("kernel"), w.version) for w in data
    ]
    render.show(
        render.table(None, ("name", "connected", "os", "kernel", "version"), rows), f"Total clients: {len(data)}"
    )


def runs(
    ctx: typer.Context,
    schedule: Annotated[str | None, typer.Option("--schedule", "-s", help="Only this schedule.")] = None,
    worker: Annotated[str | None, options.worker_option("Only this worker.")] = None,
    state: Annotated[list[RunState] | None, typer.Option("--state", help="Only these states.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many.")] = 50,
    as_json: Json = False,
) -> None:
    """List runs, newest first."""
    params: dict[str, Any] = {"schedule": schedule, "worker": worker, "limit": limit}
    if state:
        params["state"] = [s.value for s in state]
    data = options.client(ctx).get("/v1/runs", list[RunRecord], **params)
    if as_json:
        render.emit_json(data)
        return
    render.show(render.table(None, render.RUN_COLUMNS, render.run_rows(data)))


def output(ctx: typer.Context, run_id: Annotated[int, typer.Argument(help="Run id.")], as_json: Json = False) -> None:
    """Print a run's output lines in order (every one: the server's pages are followed)."""
    lines = (line for page in _pages(options.client(ctx), run_id) for line in page)
    if as_json:
        render.emit_json(list(lines))
        return
    for text in render.output_lines(lines):
        print(text)


def _pages(client: Client, run_id: int) -> Iterator[list[OutputLine]]:
    """A run's output, page after page (the server answers at most 100,000 lines at once),
    until a page comes back empty."""
    after = 0
    while page := client.get(f"/v1/runs/{segment(run_id)}/output", list[OutputLine], after=after):
        yield page
        after = page[-1].seq


def tail(
    ctx: typer.Context,
    run_id: Annotated[int, typer.Argument(help="Run id.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the run ends.")] = False,
) -> None:
    """Print a run's output; with -f, follow it live until the run ends."""
    client = options.client(ctx)
    if not follow:
        for text in render.output_lines(line for page in _pages(client, run_id) for line in page):
            print(text)
        return
    for text in render.output_lines(client.stream(f"/v1/runs/{segment(run_id)}/output", OutputLine, follow=1)):
        print(text, flush=True)


def failed(ctx: typer.Context, as_json: Json = False) -> None:
    """List runs that failed, timed out or were lost (signal deaths included)."""
    data = options.client(ctx).get("/v1/failed", list[RunRecord])
    if as_json:
        render.emit_json(data)
        return
    render.show(render.table(None, render.RUN_COLUMNS, render.run_rows(data)), f"Total failed runs: {len(data)}")


def list_(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", "-n", help="Worker name.")],
    cmd_name: Annotated[str | None, typer.Option("--cmd-name-opt", "-c", help="Schedule name.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Runs to show.")] = 20,
    as_json: Json = False,
) -> None:
    """List a worker's schedules, or with -c the runs of one schedule with their output."""
    client = options.client(ctx)
    if cmd_name is None:
        names = client.get(f"/v1/workers/{segment(name)}/schedules", list[str])
        render.emit_json(names) if as_json else render.show(f"Total commands: {len(names)}", *names)
        return
    _runs_with_output(client, {"worker": name, "schedule": cmd_name, "limit": limit}, as_json)


def cmd(
    ctx: typer.Context,
    cmd_name: Annotated[str, typer.Argument(help="Schedule name.", autocompletion=complete.schedules)],
    limit: Annotated[int, typer.Option("--limit", min=1, help="Runs to show.")] = 20,
    as_json: Json = False,
) -> None:
    """Show the runs of one schedule across all workers, with their output."""
    _runs_with_output(options.client(ctx), {"schedule": cmd_name, "limit": limit}, as_json)


def _runs_with_output(client: Client, params: dict[str, Any], as_json: bool) -> None:
    found = client.get("/v1/runs", list[RunRecord], **params)
    full = [(run, [line for page in _pages(client, run.id) for line in page]) for run in found]
    if as_json:
        render.emit_json([{**msgspec.to_builtins(run), "output": lines} for run, lines in full])
        return
    parts: list[Any] = [f"Total runs: {len(full)}"]
    for run, lines in full:
        code = run.exit_code if run.signal is None else f"signal {run.signal}"
        heading = f"#{run.id} {run.worker}/{run.schedule} {render.when(run.slot)} {run.state.value} ({code})"
        parts.append(Text(heading, "bold"))
        parts.extend(render.output_lines(lines))
    render.show(*parts)


def updates(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", "-n", help="Worker name.")],
    update_kind: Annotated[str, typer.Option("--update-kind", "-u", help="garuda, pacman, cachyos or apt.")],
    as_json: Json = False,
) -> None:
    """Show package updates found in the newest successful update-check run of a worker."""
    data = options.client(ctx).get(f"/v1/workers/{segment(name)}/updates", UpdatesReport, kind=update_kind)
    if as_json:
        render.emit_json(data)
        return
    report = data.report  # its shape is the package manager's (server/maintenance/updates.py)
    if isinstance(report, dict):
        render.show(
            f"Packages ({report['count']}) {', '.join(report['packages'])}",
            f"Total Download Size:   {report['download']:.2f} MiB",
            f"Total Installed Size:  {report['installed']:.2f} MiB",
            f"Net Upgrade Size:      {report['net']:.2f} MiB",
        )
    elif report and isinstance(report[0], dict):
        columns = ("package", "channel", "old", "new", "size_change", "download_size")
        render.show(render.table(None, columns, [[r[c] for c in columns] for r in report]))
    else:
        render.show(*report) if report else render.show("no updates found")


def cleanup(
    ctx: typer.Context,
    older_than_days: Annotated[
        float | None, typer.Option(help="Delete every run finished more than this many days ago instead.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Apply the server's retention policy now (by age and count; failures kept longer) and say
    what was deleted. A progress bar is shown on a terminal."""
    client, body = options.client(ctx), {"older_than_days": older_than_days}
    if as_json or not sys.stdout.isatty():
        data = client.post("/v1/cleanup", CleanupProgress, body)
    else:
        data = render.progress(client.stream("/v1/cleanup", CleanupProgress, method="POST", body=body, progress=1))
    if as_json:
        render.emit_json(data)
        return
    events = f" and {data.program_events} program state changes" if data.program_events else ""
    print(f"deleted {data.runs} runs and {data.output_rows} output lines{events}")


def query(
    ctx: typer.Context,
    sql: Annotated[str, typer.Option("--query", "-q", help="One SELECT statement.")],
    as_json: Json = False,
) -> None:
    """Run one read-only SELECT (barto's `output` and `exit_status` tables exist as views)."""
    data = options.client(ctx).post("/v1/query", QueryResult, {"sql": sql})
    if as_json:
        render.emit_json(data)
        return
    total = f"Total rows: {len(data.rows)}"
    if data.truncated:
        total += " (truncated: more rows matched than the server's [query] max_rows)"
    render.show(render.table(None, data.columns, data.rows), total)


def run_now(
    ctx: typer.Context,
    schedule: options.ScheduleName,
    worker: Annotated[str, options.worker_option("Worker that owns the schedule.")],
    force: Annotated[bool, typer.Option("--force", help="Run even while the previous run goes on.")] = False,
    as_json: Json = False,
) -> None:
    """Run a schedule now (a manual run, recorded like any other). It follows the schedule's
    overlap policy unless --force; a run skipped for overlap exits 1."""
    path = f"/v1/schedules/{segment(worker)}/{segment(schedule)}/run"
    data = options.client(ctx).post(path, RunRecord, {"force": force})
    if as_json:
        render.emit_json(data)
    elif data.state == RunState.SKIPPED:
        print(f"run {data.id} skipped: the previous run of {schedule} still goes (use --force)")
    else:
        queued = " (queued behind the running one)" if data.state == RunState.PENDING else ""
        print(f"run {data.id} dispatched to {worker}{queued}")
    if data.state == RunState.SKIPPED:
        raise typer.Exit(1)


def _switcher(action: str, doc: str) -> Any:
    """The ``pause`` or ``resume`` command (one shape, two verbs)."""

    def command(
        ctx: typer.Context,
        schedule: options.ScheduleName,
        worker: Annotated[str, options.worker_option("Worker that owns the schedule.")],
        as_json: Json = False,
    ) -> None:
        _switch(ctx, schedule, worker, action, as_json)

    command.__doc__ = doc
    return command


pause = _switcher("pause", "Stop firing a schedule until `resume` (kept across server restarts and config reloads).")
resume = _switcher("resume", "Fire a paused schedule again from its next slot (the paused stretch is not made up).")


def _switch(ctx: typer.Context, schedule: str, worker: str, action: str, as_json: bool) -> None:
    path = f"/v1/schedules/{segment(worker)}/{segment(schedule)}/{segment(action)}"
    data = options.client(ctx).post(path, ScheduleRecord)
    if as_json:
        render.emit_json(data)
        return
    nxt = render.when(data.next_fire) if data.next_fire else "never"
    print(f"{schedule} on {worker}: {'paused' if data.paused else 'running'}; next slot {nxt}")


def backfill(
    ctx: typer.Context,
    schedule: options.ScheduleName,
    worker: Annotated[str, options.worker_option("Worker that owns the schedule.")],
    start: Annotated[datetime, typer.Option("--from", help="First slot time (UTC unless an offset is given).")],
    end: Annotated[datetime, typer.Option("--to", help="Last slot time (UTC unless an offset is given).")],
    as_json: Json = False,
) -> None:
    """Create runs for the past slots between --from and --to that did not succeed; they run one
    after another."""
    body = {"from": _utc(start).isoformat(), "to": _utc(end).isoformat()}
    path = f"/v1/schedules/{segment(worker)}/{segment(schedule)}/backfill"
    data = options.client(ctx).post(path, list[RunRecord], body)
    if as_json:
        render.emit_json(data)
        return
    print(f"{len(data)} runs created for {schedule} on {worker}" + (":" if data else ""))
    for run in data:
        print(f"  run {run.id}  slot {render.when(run.slot)}  attempt {run.attempt}")


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def cancel(
    ctx: typer.Context,
    run_id: Annotated[int, typer.Argument(help="Run id.")],
    as_json: Json = False,
) -> None:
    """Stop a run: stop signal to its process group, then KILL after the schedule's stopwaitsecs."""
    data = options.client(ctx).post(f"/v1/runs/{segment(run_id)}/cancel", RunRecord)
    if as_json:
        render.emit_json(data)
        return
    print(f"run {run_id}: cancel sent (state now {data.state.value})")


@clients_app.command("forget")
def forget(
    ctx: typer.Context,
    worker: Annotated[str, typer.Argument(help="A worker that is not connected.")],
    with_runs: Annotated[bool, typer.Option("--with-runs", help="Delete its runs and their output too.")] = False,
    as_json: Json = False,
) -> None:
    """Forget a worker that is not connected (admin); its runs are kept unless --with-runs."""
    data = options.client(ctx).delete(f"/v1/clients/{segment(worker)}?with_runs={str(with_runs).lower()}", Forgotten)
    if as_json:
        render.emit_json(data)
        return
    print(
        f"forgot {worker}"
        + (f" and {data.runs_removed} runs ({data.output_lines_removed} output lines)" if with_runs else "")
    )


def register(app: typer.Typer) -> None:
    """Add the server commands to ``app``."""
    for function in (info, runs, output, tail, failed, cmd, updates, cleanup, query, cancel):
        app.command()(function)
    app.add_typer(clients_app, name="clients")
    app.add_typer(schedules.app, name="schedules")
    app.add_typer(alerts.app, name="alerts")
    app.add_typer(rq.app, name="rq")
    app.add_typer(btu.app, name="btu")
    app.command("list")(list_)
    app.command("run-now")(run_now)
    app.command("backfill")(backfill)
    app.command("pause")(pause)
    app.command("resume")(resume)
