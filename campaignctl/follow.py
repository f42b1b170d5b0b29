"""``campaigns start --follow``: a campaign's progress bar, live, until it is over.

The bar redraws on a clock, not on events: see ticker.py for why a blocking read of
the event stream once froze it for seconds.
"""

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
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from campaignctl.client import ApiClient
from campaignctl.progress import Snapshot, until_over
from campaignctl.stream import live_snapshots
from campaignctl.ticker import ticking


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
        TimeElapsedColumn(),
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

        # The stream is read by a thread of ticking(); closing the ticker ends it, and
        # the poller has its own client, closed here, so neither blocks the other.
        with client.sibling() as poller:

            def poll() -> Snapshot:
                return Snapshot.from_queue_status(poller.queue_status(campaign_id))

            snapshots = ticking(live_snapshots(client, campaign_id), poll)
            with closing(snapshots):
                return until_over(snapshots, draw)
