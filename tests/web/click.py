"""A person at the page, in a real browser (Playwright driving the system
Chromium, offline): opens the URL sc-view --serve printed, clicks a button,
and waits until the page shows what followed.

    python click.py URL allow|stop|output|diff|buttons|kind=KIND|scroll SCREENSHOT

Prints what the page's row says at the end; exits non-zero when the button
or the outcome never came.
"""
import sys

from playwright.sync_api import sync_playwright

url, action, shot = sys.argv[1], sys.argv[2], sys.argv[3]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    page = browser.new_page(viewport={"width": 1100, "height": 300})
    page.goto(url)
    # The token became a cookie: the address bar shows none.
    assert "token" not in page.url, page.url
    if action == "scroll":
        # Every row there, then the page scrolled to its end and back a
        # wheel turn at a time: the longest task the page saw while loading
        # (its own observer), then while scrolling (one of ours, from now).
        # (The summary, counted as rows are shown: a selector, not a
        # function, which the page's CSP refuses Playwright's eval of.)
        page.wait_for_selector("#summary:text('1000 workers · 0 running · 100 failed')", timeout=60_000)
        print(page.evaluate("document.body.dataset.longestTaskMs"))
        page.evaluate("""() => { window.scrollLongest = 0;
            new PerformanceObserver((list) => { for (const e of list.getEntries())
                window.scrollLongest = Math.max(window.scrollLongest, Math.round(e.duration)); })
            .observe({ type: "longtask" }); }""")
        for delta in [600] * 60 + [-600] * 60:
            page.mouse.wheel(0, delta)
            page.wait_for_timeout(16)
        page.screenshot(path=shot)
        print(page.evaluate("window.scrollLongest"))
    elif action.startswith("kind="):
        # The kind filter: the ids of the rows still shown, one a line.
        page.wait_for_selector(f"#kind option[value='{action[5:]}']", state="attached", timeout=60_000)
        page.select_option("#kind", action[5:])
        page.screenshot(path=shot)
        page.wait_for_selector("#state:text('the stream ended')", timeout=60_000)
        for row in page.query_selector_all("tbody tr:not(.hidden)"):
            print(row.get_attribute("data-worker"), repr(row.query_selector("td.now").inner_text()))
        print("Stop buttons:", len(page.query_selector_all("td.act button")))
    elif action == "buttons":
        # A running worker's row: the buttons and fields it has (its row
        # and its buttons are made in one go).
        page.wait_for_selector("tr.running", timeout=60_000)
        page.screenshot(path=shot)
        print(len(page.query_selector_all("td.act button, td.act input")))
    elif action in ("output", "diff"):
        # A worker's id clicked: its whole output below the table; its
        # worktree's diff button: its diff there.
        page.click("td.id" if action == "output" else "td.branch button", timeout=60_000)
        page.wait_for_selector(f"#output[data-what={action}]:not([hidden]) pre:not(:empty)", timeout=60_000)
        page.screenshot(path=shot)
        print(page.inner_text("#output pre"))
    else:
        button = {"allow": "Allow", "stop": "Stop"}[action]
        page.get_by_role("button", name=button).first.click(timeout=60_000)
        outcome = {"allow": "tr.succeeded", "stop": "tr.failed"}[action]
        page.wait_for_selector(outcome, timeout=60_000)
        page.screenshot(path=shot)
        print(page.inner_text("tbody"))
    browser.close()
