"""``python -m lab.book.screenshots``: the book's screenshots in derivations/figures/, from the built book.

Build the book first (``make book``, after ``make verify`` so the cards show a result). Headless Debian
chromium through Playwright (the dev extra; never ``playwright install``) takes three pictures:

- ``book.png``: a model page at 1280 x 760, just after a click on "(eq. 7)" in the code, which lights up
  equation 7 in the derivation (the README's picture);
- ``book-syllabus.png``: the index, the course's syllabus, at 1280 x 900;
- ``book-phone.png``: the same model page's first screen on a 390 x 844 phone.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lab.book.build import DERIVATIONS, OUT

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def take(book: Path = OUT, to: Path = DERIVATIONS / "figures", name: str = "logistic_regression", eq: str = "7"):
    """Write the three screenshots; return their paths."""
    from playwright.sync_api import sync_playwright

    page_path = book / f"{name}.html"
    if not page_path.exists():
        raise SystemExit(f"lab: error: no {page_path}: build the book first (make book)")
    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        def open_(path: Path, width: int, height: int):
            page = browser.new_page(viewport={"width": width, "height": height}, color_scheme="light")
            page.goto(path.as_uri())
            page.wait_for_selector("html[data-fitted]", state="attached")  # fonts loaded, wide equations fitted
            return page

        page = open_(page_path, 1280, 760)
        page.locator(f'#code a.cite[href="#eq-{eq}"]').first.click()
        page.wait_for_function(f"document.getElementById('eq-{eq}').classList.contains('hl')")
        page.wait_for_timeout(1300)  # the flash's outline has faded; the highlight stays
        shots.append(to / "book.png")
        page.screenshot(path=str(shots[-1]))
        page.close()
        page = open_(book / "index.html", 1280, 900)
        page.evaluate("document.querySelector('.syllabus').scrollIntoView()")
        shots.append(to / "book-syllabus.png")
        page.screenshot(path=str(shots[-1]))
        page.close()
        page = open_(page_path, 390, 844)
        shots.append(to / "book-phone.png")
        page.screenshot(path=str(shots[-1]))
        page.close()
        browser.close()
    return shots


if __name__ == "__main__":
    for shot in take(*(Path(a) for a in sys.argv[1:3])):
        print(f"wrote {shot}")
