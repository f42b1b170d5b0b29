"""``campaigns start --follow``: a campaign's progress bar, live, until it is over."""

from __future__ import annotations

from contextlib import closing

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from campaignctl.client import ApiClient
from campaignctl.progress import Snapshot, until_over
from campaignctl.stream import live_snapshots


def follow(client: ApiClient, campaign_id: str, console: Console, show: bool = True) -> Snapshot:
    """Draw the campaign's progress on ``console`` until it is over; its last counts."""
    progress = Progress(
        SpinnerColumn(finished_text="•"),
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]:>7.1f} msg/s"),
        TextColumn("sent {task.fields[sent]}  failed {task.fields[failed]}"),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not show,
    )
    with progress:
        task = progress.add_task("starting", total=None, rate=0.0, sent=0, failed=0)

        def draw(snapshot: Snapshot) -> None:
            progress.update(
                task,
                description=snapshot.status,
                total=snapshot.total or None,
                completed=snapshot.processed,
                rate=snapshot.rate if snapshot.live_rate is None else snapshot.live_rate,
                sent=snapshot.sent,
                failed=snapshot.failed,
            )

        with closing(live_snapshots(client, campaign_id)) as snapshots:
            return until_over(snapshots, draw)
