"""The campaign page's rate chart on its own, in Chromium: rate-chart.js and the vendored
uPlot served from disk (as test_page_scripts.py does), fed points as the endpoint sends."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.test_page_scripts import ORIGIN, serve_static

# Three seconds of a run, as GET /api/campaigns/{id}/rate-series answers.
POINTS = [
    {"at": 1_800_000_000, "sent": 12, "failed": 1, "failedAfterAcceptance": 0},
    {"at": 1_800_000_001, "sent": 0, "failed": 0, "failedAfterAcceptance": 0},
    {"at": 1_800_000_002, "sent": 30, "failed": 2, "failedAfterAcceptance": 3},
]
PLOT_WIDTH = 'document.querySelector("#chart .u-wrap").getBoundingClientRect().width'

DRAW = """async (points) => {
    const { rateChart } = await import("/static/js/views/rate-chart.js");
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = "/static/vendor/uplot/uPlot.min.css";
    document.head.append(link);
    const container = document.createElement("div");
    container.id = "chart";
    container.style.width = "600px";
    document.body.append(container);
    const chart = rateChart(container);
    const caption = () => container.querySelector("figcaption").textContent;
    const empty = caption();
    chart.update(points, 1);
    window.rateChartUnderTest = chart;
    return {
        empty,
        caption: caption(),
        captionClass: container.querySelector("figcaption").className,
        plotHidden: container.querySelector(".rate-chart-plot").getAttribute("aria-hidden"),
        legend: [...container.querySelectorAll(".u-legend .u-series th")].map((th) =>
            th.textContent.trim()),
    };
}"""


def test_the_chart_draws_three_lines_says_them_in_words_and_goes_away(page: Page) -> None:
    page.route(f"{ORIGIN}/**", serve_static)
    page.goto(f"{ORIGIN}/")
    drawn = page.evaluate(DRAW, POINTS)
    assert drawn["empty"] == "Messages per second: nothing sent yet."
    assert drawn["caption"] == (
        "Messages per second over 3 s. "
        "sent: 42 in all, 30/s in the latest 1 s, at most 30/s; "
        "failed at send: 3 in all, 2/s in the latest 1 s, at most 2/s; "
        "failed after acceptance: 3 in all, 3/s in the latest 1 s, at most 3/s."
    )
    # The canvas is hidden from screen readers; the caption says it in words instead.
    assert (drawn["captionClass"], drawn["plotHidden"]) == ("visually-hidden", "true")
    assert drawn["legend"][1:] == ["Sent", "Failed at send", "Failed after acceptance"]

    # As wide as its container, and as it changes (uPlot sizes itself on a later frame).
    page.wait_for_function(f"{PLOT_WIDTH} === 600")
    page.evaluate('document.getElementById("chart").style.width = "400px"')
    page.wait_for_function(f"{PLOT_WIDTH} === 400")

    # Without bucketSeconds, the step between the points is the bucket: counts of 2 s
    # buckets are drawn and told as rates per second.
    widened = page.evaluate(
        """(points) => {
            window.rateChartUnderTest.update(points);
            return document.querySelector("#chart figcaption").textContent;
        }""",
        [{**p, "at": 1_800_000_000 + 2 * i} for i, p in enumerate(POINTS)],
    )
    assert widened.startswith("Messages per second over 6 s. sent: 42 in all, 15/s")

    gone = page.evaluate(
        """() => {
            window.rateChartUnderTest.destroy();
            return document.getElementById("chart").children.length;
        }"""
    )
    assert gone == 0
