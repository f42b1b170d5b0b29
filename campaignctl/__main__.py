"""``python -m campaignctl``: the same entry point as the console script."""

from campaignctl.main import app

app(prog_name="campaignctl")
