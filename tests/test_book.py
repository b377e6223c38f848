"""The study book (lab/book): the build, its errors, its links, and the pages in a real browser.

The unit tests build a page or two from copies of the sources, without figures. The
browser tests build the whole book once per session into a temporary folder and drive
Debian's chromium through Playwright (never ``playwright install``). Without chromium
they skip with one line, except under CI=true, where a skip is a failure.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from lab.book import BuildError, build, run
from lab.book.build import LAYERS, MODELS, NETS, ROOT, TAG, ToolMissing, cited, ensure_katex

DERIV = ROOT / "derivations"
CHROMIUM = Path("/usr/bin/chromium")
PAIR = ("logistic_regression", "linear_regression")


def _need(why: str):
    """Skip with one line; under CI=true, where everything must be installed, fail instead."""
    pytest.fail(why) if os.environ.get("CI") == "true" else pytest.skip(why)


@pytest.fixture(scope="session")
def node():
    """node, npm and KaTeX (the build runs npm ci when node_modules is missing or older than the lock)."""
    try:
        ensure_katex()
    except ToolMissing as e:
        _need(str(e))


@pytest.fixture
def sources(tmp_path: Path, node):
    """Copies of two derivations and their models, to edit."""
    d, m = tmp_path / "derivations", tmp_path / "models"
    d.mkdir()
    m.mkdir()
    for n in PAIR:
        shutil.copy(DERIV / f"{n}.md", d / f"{n}.md")
        shutil.copy(MODELS / f"{n}.py", m / f"{n}.py")
    return d, m, tmp_path / "book"


def _build(sources, **kw):
    d, m, out = sources
    return build(out, derivations=d, models=m, report=None, readme=None, figures=False, **kw)


def _insert(path: Path, after_line: int, text: str) -> int:
    """Insert ``text`` as a new line after line ``after_line``; return its 1-based line number."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(after_line, text + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    return after_line + 1


# -- the build -----------------------------------------------------------------------------------


def test_an_unknown_macro_fails_the_build_with_file_line_and_katex_message(sources, capsys):
    d, m, out = sources
    md = d / "logistic_regression.md"
    line = _insert(md, 10, r"A typo: $\sigmoid(z)$ is not a macro.")
    with pytest.raises(BuildError) as e:
        _build(sources)
    assert any(p.startswith(f"{md.as_posix()}:{line}: ") and r"Undefined control sequence: \sigmoid" in p
               for p in e.value.problems), e.value.problems  # fmt: skip
    assert not (out / "logistic_regression.html").exists()  # no page with an error is written
    code = run(out=out, derivations=d, models=m, report=None, readme=None, figures=False)
    assert code == 1
    assert f"{md.as_posix()}:{line}: KaTeX parse error" in capsys.readouterr().err


def test_an_unbalanced_brace_in_a_display_block_names_its_own_line(sources):
    md = sources[0] / "linear_regression.md"
    start = _insert(md, 4, "$$\na = 1\n\\frac{1}{2\n$$")
    with pytest.raises(BuildError) as e:
        _build(sources)
    assert any(p.startswith(f"{md.as_posix()}:{start + 2}: KaTeX parse error") for p in e.value.problems), (
        e.value.problems
    )


def test_an_unclosed_display_never_leaves_raw_dollars_in_a_page(sources):
    md = sources[0] / "linear_regression.md"
    line = _insert(md, 4, "An unclosed display: $$ x = 1 and so on.")
    with pytest.raises(BuildError) as e:
        _build(sources)
    assert e.value.problems == [f"{md.as_posix()}:{line}: the page would contain '$$' (unclosed $$?)"]
    assert not (sources[2] / "linear_regression.html").exists()


def test_a_citation_of_a_missing_equation_fails_the_build(sources):
    py = sources[1] / "logistic_regression.py"
    line = _insert(py, 20, "# the curvature of the loss (eq. 99)")
    with pytest.raises(BuildError) as e:
        _build(sources)
    assert f"{py.as_posix()}:{line}: cites eq. 99, which" in "\n".join(e.value.problems)


def test_links_go_both_ways_and_no_raw_tex_is_left(sources):
    _build(sources)
    for name in PAIR:
        page = (sources[2] / f"{name}.html").read_text(encoding="utf-8")
        text = (DERIV / f"{name}.md").read_text(encoding="utf-8")
        source = (MODELS / f"{name}.py").read_text(encoding="utf-8")
        assert "$$" not in page and "katex-error" not in page
        for label in set(TAG.findall(text)):
            assert f'id="eq-{label}"' in page
        for i, line in enumerate(source.splitlines(), start=1):
            assert f'id="L{i}"' in page
            for label in cited(line):
                assert f'<a class="cite" href="#eq-{label}">{label}</a>' in page  # code -> equation
                assert f'<a class="back" href="#L{i}">{i}</a>' in page  # equation -> code
        assert page.count('class="katex-mathml"') == page.count('class="katex-html"')  # MathML kept
    page = (sources[2] / "logistic_regression.html").read_text(encoding="utf-8")
    eq7 = page[page.index('id="eq-7"') :]
    lines = [i for i, s in enumerate(source_lines("logistic_regression"), 1) if "7" in cited(s)]
    want = "implemented at lines " + ", ".join(f'<a class="back" href="#L{i}">{i}</a>' for i in lines)
    assert want in eq7[: eq7.index("</div>")]


def source_lines(name: str) -> list[str]:
    return (MODELS / f"{name}.py").read_text(encoding="utf-8").splitlines()


def test_a_derivation_links_other_pages_and_shows_its_images_from_the_book(sources):
    d, _, out = sources
    (d / "figures").mkdir()
    shutil.copy(DERIV / "figures" / "lr_sweep.png", d / "figures" / "lr_sweep.png")
    _insert(d / "linear_regression.md", 4, "![the sweep](figures/lr_sweep.png) and [the other](logistic_regression.md)")
    _build(sources)
    page = (out / "linear_regression.html").read_text(encoding="utf-8")
    assert '<img src="figures/lr_sweep.png" alt="the sweep"' in page and (out / "figures" / "lr_sweep.png").exists()
    assert '<a href="logistic_regression.html">the other</a>' in page


LESSON = """# A demo lesson

It links [a model](../linear_regression.md), [another lesson](other.md), [a file](../../lab/net.py), and shows
![a figure](figures/demo.png).

$$
e_{k+1} = (I - \\eta H)\\, e_k . \\tag{1}
$$

```python
assert True
```
"""


def test_a_lesson_gets_a_page_linked_from_the_index_and_to_the_models(sources):
    d, _, out = sources
    (d / "lessons").mkdir()
    (d / "lessons" / "demo.md").write_text(LESSON, encoding="utf-8")
    (d / "lessons" / "other.md").write_text("# Other\n\nText.\n", encoding="utf-8")
    first = _build(sources)
    assert {"lesson-demo", "lesson-other"} <= set(first.built)
    page = (out / "lesson-demo.html").read_text(encoding="utf-8")
    assert '<a href="linear_regression.html">a model</a>' in page
    assert '<a href="lesson-other.html">another lesson</a>' in page
    assert '<a href="../lab/net.py">a file</a>' in page  # from derivations/lessons/, from book/: one folder less
    assert '<img src="figures/demo.png" alt="a figure"' in page and 'id="eq-1"' in page
    assert "katex" in page and "$$" not in page.split("<pre")[0]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="lesson-demo.html"' in index and "A demo lesson" in index
    assert index.count('<li class="step lesson"') == 2
    again = _build(sources)
    assert again.built == []


def test_a_latex_error_in_a_lesson_fails_the_build_with_its_file_and_line(sources):
    d, _, _ = sources
    (d / "lessons").mkdir()
    (d / "lessons" / "demo.md").write_text(LESSON.replace("\\eta", "\\nosuchmacro"), encoding="utf-8")
    with pytest.raises(BuildError) as e:
        _build(sources)
    assert any(p.startswith(str(d / "lessons" / "demo.md")) or "lessons/demo.md:6:" in p for p in e.value.problems), (
        e.value.problems
    )


def test_a_rebuild_after_one_derivation_changes_rebuilds_that_page_only(sources):
    first = _build(sources)
    assert sorted(first.built) == sorted(PAIR) and first.index_built
    again = _build(sources)
    assert again.built == [] and not again.index_built
    md = sources[0] / "linear_regression.md"
    md.write_text(md.read_text(encoding="utf-8") + "\nOne more sentence, with $x^2$.\n", encoding="utf-8")
    after = _build(sources)
    assert after.built == ["linear_regression"] and after.kept == ["logistic_regression"]
    assert not after.index_built
    assert "One more sentence" in (sources[2] / "linear_regression.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("builder_changed", [False, True])
def test_a_page_whose_sources_are_gone_is_deleted_with_its_notebook_and_figure(sources, builder_changed):
    """Delete a model and a lesson, rebuild: their pages go, the other page stays, and the index no longer
    names them; also when the builder itself changed in between (every page built again)."""
    d, m, out = sources
    (d / "lessons").mkdir()
    (d / "lessons" / "demo.md").write_text(LESSON, encoding="utf-8")
    _build(sources)
    (out / "notebooks").mkdir(exist_ok=True)  # a build from copies writes no notebook: stand in for the lab's
    (out / "notebooks" / "logistic_regression.ipynb").write_text("{}", encoding="utf-8")
    (out / "notebooks" / "demo.ipynb").write_text("{}", encoding="utf-8")
    (out / "figures" / "logistic_regression-trained.png").write_bytes(b"png")
    for f in (d / "logistic_regression.md", m / "logistic_regression.py", d / "lessons" / "demo.md"):
        f.unlink()
    if builder_changed:
        manifest = json.loads((out / ".manifest.json").read_text(encoding="utf-8"))
        (out / ".manifest.json").write_text(json.dumps({**manifest, "builder": "older"}), encoding="utf-8")
    after = _build(sources)
    assert sorted(after.removed) == ["lesson-demo", "logistic_regression"]
    gone = ["logistic_regression.html", "lesson-demo.html", "notebooks/logistic_regression.ipynb",
            "notebooks/demo.ipynb", "figures/logistic_regression-trained.png"]  # fmt: skip
    assert [f for f in gone if (out / f).exists()] == []
    assert (out / "linear_regression.html").exists()
    manifest = json.loads((out / ".manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["pages"]) == {"linear_regression"} and manifest["lessons"] == {}
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "logistic_regression.html" not in index and "lesson-demo.html" not in index
    assert _build(sources).removed == []


def test_a_build_stopped_midway_still_knows_the_pages_it_wrote(sources, monkeypatch):
    """A build interrupted after its first page keeps that page in its manifest, so the page is removed
    once its sources are gone (an untracked page would stay in book/ for good)."""
    builder = sys.modules["lab.book.build"]  # the module (lab.book.build is also the name of its function)
    d, m, out = sources
    real, done = builder._page_html, []

    def stops_at_the_second(p, *args):
        if done:
            raise KeyboardInterrupt
        done.append(p.name)
        return real(p, *args)

    monkeypatch.setattr(builder, "_page_html", stops_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        _build(sources)
    monkeypatch.setattr(builder, "_page_html", real)
    first = done[0]
    assert (out / f"{first}.html").exists()
    assert first in json.loads((out / ".manifest.json").read_text(encoding="utf-8"))["pages"]
    (d / f"{first}.md").unlink()
    (m / f"{first}.py").unlink()
    assert _build(sources).removed == [first] and not (out / f"{first}.html").exists()


def test_the_card_shows_the_report_and_says_how_to_get_one(sources, tmp_path):
    _build(sources)
    page = (sources[2] / "logistic_regression.html").read_text(encoding="utf-8")
    assert "No verification report yet" in page and "make verify" in page
    report = tmp_path / "verify.json"
    entry = {"model": "logistic_regression", "status": "pass", "cases": 2048, "cases_skipped": 3,
             "max_error": 2.1e-07, "max_error_over_tolerance": 0.33, "derivation": "ok", "new_field": [1],
             "inconclusive": {"inside rounding": 4, "no scale": 1}}  # fmt: skip
    report.write_text(json.dumps([entry]), encoding="utf-8")
    Path(f"{report}.commit").write_text("abc123def456\n", encoding="utf-8")
    d, m, out = sources
    result = build(out, derivations=d, models=m, report=report, readme=None, figures=False)
    assert sorted(result.built) == sorted(PAIR)  # the cards changed
    page = (out / "logistic_regression.html").read_text(encoding="utf-8")
    card = page[page.index('id="verification"') : page.index('<nav class="toc"')]
    for want in (
        "verified",
        "2048",
        "2.1e-07",
        "33%",
        "abc123def456",
        "outside the domain",
        ">3<",
        "inconclusive",
        ">5<",
        "What these mean",
        "checked against jax.hessian",
    ):
        assert want in card, want
    other = (out / "linear_regression.html").read_text(encoding="utf-8")
    assert "has no entry for linear_regression" in other


def test_make_book_without_node_says_how_to_install_it_in_one_line(tmp_path):
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    (tmp_path / "make").symlink_to(make)
    proc = subprocess.run([str(tmp_path / "make"), "-s", "book"], cwd=ROOT, env={"PATH": str(tmp_path)},
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "apt-get install nodejs npm" in proc.stderr


# -- in a real browser ------------------------------------------------------------------------------

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _shared(tmp_path_factory) -> Path:
    """A folder of this run that every pytest-xdist worker sees (the run's own folder without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def _locked(path: Path):
    """Held by one worker at a time: what is made inside is made once for the run."""
    with open(path.parent / f"{path.name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def book(tmp_path_factory, node):
    """The whole book, built once for the run (whichever worker comes first), with figures and whatever
    report make verify left. It is brought up to date in the suite's store the way ``make book`` brings
    up ``book/``: only pages and figures whose inputs changed since the last run are built again (a
    whole build trains both networks and runs every lesson, about 33 s). The run reads a copy, so no
    test touches the kept one."""
    out = _shared(tmp_path_factory) / "book"
    with _locked(out):
        if not (out / ".built").exists():
            store = os.environ.get("LAB_JAX_CACHE", "off")
            if store == "off":
                build(out)
            else:
                kept = Path(store) / "book"
                kept.mkdir(parents=True, exist_ok=True)
                with _locked(kept):
                    build(kept)
                    shutil.copytree(kept, out, dirs_exist_ok=True)
            (out / ".built").touch()
    return out


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        _need("no /usr/bin/chromium (apt-get install chromium); the browser tests need it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _names() -> list[str]:
    return sorted(p.stem for p in MODELS.glob("*.py") if not p.stem.startswith("_"))


def _layer_names() -> list[str]:
    return sorted(p.stem for p in LAYERS.glob("*.py") if not p.stem.startswith("_"))


def _net_names() -> list[str]:
    return sorted(p.stem for p in NETS.glob("*.py") if not p.stem.startswith("_"))


PAGES = ["index", *_names()]
SHOTS = ROOT / "book" / "screenshots"


_TABS: dict = {}  # this worker's tabs, one per viewport and colour scheme


def _open(browser, url: str, width: int = 1280, height: int = 800, scheme: str = "light"):
    """``url`` loaded as a new document in this worker's tab of that size and scheme, with its problems
    (console errors, page errors, requests that leave the disk) collected in ``page.problems``.

    Tabs are reused: opening one costs about as much as loading a page (half a second each here).
    Every load starts from about:blank, so nothing of the last document (its scroll, open folds,
    listeners) carries over, and a link to the page already shown with another #hash is a real load,
    not a scroll."""
    key = (id(browser), width, height, scheme)
    page = _TABS.get(key)
    if page is None or page.is_closed():
        page = browser.new_page(viewport={"width": width, "height": height}, color_scheme=scheme)
        page.on("console", lambda m: m.type == "error" and page.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
        page.on("request", lambda r: r.url.startswith("file://") or page.problems.append(f"request: {r.url}"))
        _TABS[key] = page
    page.goto("about:blank")
    page.problems = []
    page.goto(url)
    page.wait_for_load_state("load")
    return page


@pytest.mark.parametrize("name", PAGES)
def test_every_page_loads_offline_with_no_error_and_all_math_typeset(book, browser, name):
    page = _open(browser, (book / f"{name}.html").as_uri())
    page.evaluate("document.fonts.ready")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    assert page.problems == []
    if name == "index":
        assert page.locator(".syllabus li.step.model").count() == len(PAGES) - 1
        return
    assert page.locator(".katex-error").count() == 0
    prose = page.evaluate(
        """() => { const md = document.querySelector('.md').cloneNode(true);
                   md.querySelectorAll('pre, code, .katex-mathml').forEach(e => e.remove());
                   return md.textContent; }"""
    )
    assert "$" not in prose and not re.search(r"\\[A-Za-z]+", prose), "raw TeX left in the page"
    text = (DERIV / f"{name}.md").read_text(encoding="utf-8")
    assert page.locator(".eq[id^=eq-]").count() == len(TAG.findall(text))
    assert page.locator(".md .katex").count() == page.locator(".md .katex .katex-html").count() > 0
    assert page.locator("#trained img").count() == 1  # a figure of the model trained


_IN_VIEW = """id => { const e = document.getElementById(id); const r = e.getBoundingClientRect();
  return {target: e.matches(':target'), hl: e.classList.contains('hl'),
          visible: r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth}; }"""
LANDED = {"target": True, "hl": True, "visible": True}


def _landed(page, anchor: str) -> dict:
    """Where the element ``anchor`` is once the hash change has been handled (waits up to 2 s for it)."""
    try:
        page.wait_for_function(f"id => Object.values(({_IN_VIEW})(id)).every(Boolean)", arg=anchor, timeout=2000)
    except Exception:  # noqa: BLE001 - the assertion below shows what did not happen
        pass
    return page.evaluate(_IN_VIEW, anchor)


#: Clicks every citation (code → equation) and back-link (equation → code) of a page in turn, as a reader
#: would, inside the page: each link is scrolled into view and must be the element under its own centre
#: (nothing covers it), is clicked, and its target must become :target, highlighted and in view within 2 s.
#: One round trip for the whole page, where a Playwright click per link cost about a tenth of a second.
_CLICK_EVERY = """async selectors => {
  const state = IN_VIEW;
  const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  const out = [];
  for (const selector of selectors) {
    for (const a of document.querySelectorAll(selector)) {
      const id = a.getAttribute('href').slice(1);
      a.scrollIntoView({block: 'center'});
      const r = a.getBoundingClientRect(), hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
      if (!hit || !(hit === a || a.contains(hit))) { out.push({selector, id, covered: true}); continue; }
      a.click();
      const start = performance.now();
      let s;
      do { await frame(); s = state(id); } while (!(s.target && s.hl && s.visible) && performance.now() - start < 2000);
      out.push({selector, id, ...s});
    }
  }
  return out;
}""".replace("IN_VIEW", _IN_VIEW)


def _click_every_link(page) -> int:
    """Click each citation and back-link of ``page`` (see :data:`_CLICK_EVERY`); the number clicked, each landed."""
    results = page.evaluate(_CLICK_EVERY, ["#code a.cite", ".eq .impl a.back"])
    missed = [r for r in results if {k: r.get(k) for k in LANDED} != LANDED]
    assert missed == [], missed[:5]
    return len(results)


LESSON_PAGES = sorted(p.stem for p in (DERIV / "lessons").glob("*.md"))


@pytest.mark.parametrize("name", LESSON_PAGES)
def test_every_lesson_page_loads_offline_with_its_math_and_figures(book, browser, name):
    page = _open(browser, (book / f"lesson-{name}.html").as_uri())
    page.evaluate("document.fonts.ready")
    page.evaluate("document.querySelectorAll('.md img').forEach(i => { i.loading = 'eager'; })")  # lazy: load now
    page.wait_for_function("[...document.querySelectorAll('.md img')].every(i => i.complete)")
    assert page.problems == []
    assert page.locator(".katex-error").count() == 0
    text = (DERIV / "lessons" / f"{name}.md").read_text(encoding="utf-8")
    assert page.locator(".eq[id^=eq-]").count() == len(TAG.findall(text)) > 0
    widths = page.eval_on_selector_all(".md img", "is => is.map(i => i.naturalWidth)")
    assert widths and all(w > 0 for w in widths), "a figure of the lesson did not load"
    index = (book / "index.html").read_text(encoding="utf-8")
    assert f'href="lesson-{name}.html"' in index


@pytest.mark.parametrize("name", PAGES[1:])
def test_each_citation_and_back_link_lands_on_its_target_and_highlights_it(book, browser, name):
    page = _open(browser, (book / f"{name}.html").as_uri())
    clicked = _click_every_link(page)
    assert clicked > 0 and page.problems == []


@pytest.mark.parametrize("name", PAGES[1:])
def test_deep_links_land_and_narrow_screens_do_not_overflow(book, browser, name):
    source = (MODELS / f"{name}.py").read_text(encoding="utf-8").splitlines()
    line = next(i for i, s in enumerate(source, 1) if cited(s))
    label = sorted(cited(source[line - 1]))[0]
    for anchor in (f"eq-{label}", f"L{line}"):
        page = _open(browser, (book / f"{name}.html").as_uri() + f"#{anchor}")
        assert _landed(page, anchor) == LANDED, anchor
    page = _open(browser, (book / f"{name}.html").as_uri() + f"#eq-{label}", width=390, height=800, scheme="dark")
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth"), "sideways overflow at 390 px"
    assert page.evaluate(_IN_VIEW, f"eq-{label}")["visible"]
    page.screenshot(path=str(SHOTS / f"{name}-390-dark.png"))


def test_the_index_links_every_page_and_the_readme_figures(book, browser):
    page = _open(browser, (book / "index.html").as_uri(), width=390)
    assert page.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
    hrefs = page.eval_on_selector_all("a", "as => as.map(a => a.getAttribute('href'))")
    for n in PAGES[1:]:
        assert f"{n}.html" in hrefs
    figures = sorted(p.name for p in (ROOT / "derivations" / "figures").glob("*.png"))
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # the gallery's images load lazily
    page.wait_for_function("[...document.querySelectorAll('.gallery img')].every(i => i.complete && i.naturalWidth)")
    shown = page.eval_on_selector_all(".gallery img", "is => is.map(i => i.getAttribute('src'))")
    readme = "".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    assert [f"figures/{f}" for f in figures if f"derivations/figures/{f}" in readme] == sorted(shown)
    assert len(shown) == len(figures)  # every figure kept in derivations/figures/ is shown by the README or docs/
    assert page.problems == []


def test_without_javascript_the_math_shows_and_a_deep_link_still_highlights(book, browser):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto((book / "logistic_regression.html").as_uri() + "#eq-7")
    assert page.locator(".md .katex-html").count() > 50
    assert page.locator(".md .katex-html").first.is_visible()
    style = page.evaluate("getComputedStyle(document.getElementById('eq-7')).backgroundColor")
    assert style not in ("rgba(0, 0, 0, 0)", "transparent"), "the :target highlight needs no script"
    context.close()


def test_the_figure_cache_sees_an_edit_to_any_file_of_the_optimizers_package(tmp_path, monkeypatch):
    """lab/optim is a package (it was one file, lab/optim.py): an edit to any of its files draws the figures again."""
    B = sys.modules["lab.book.build"]  # the module: lab.book's own name `build` is the function
    for rel in ("lab/plots.py", "lab/data.py", "lab/model.py", "lab/optim/__init__.py", "lab/optim/gd.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(f"# {rel}\n", encoding="utf-8")
    monkeypatch.setattr(B, "ROOT", tmp_path)
    before = B._figure_inputs("model source")
    assert B._figure_inputs("model source") == before
    (tmp_path / "lab/optim/gd.py").write_text("# the step size changed\n", encoding="utf-8")
    assert B._figure_inputs("model source") != before
    after_edit = B._figure_inputs("model source")
    (tmp_path / "lab/optim/momentum.py").write_text("# a new optimizer\n", encoding="utf-8")
    assert B._figure_inputs("model source") != after_edit


def test_a_network_s_figure_cache_sees_an_edit_to_the_composition_a_network_or_a_layer(tmp_path, monkeypatch):
    """A network's run goes through lab/net.py, its file and every layer's forward and vjp: an edit to any of
    them (or a new network file) draws its figure again."""
    B = sys.modules["lab.book.build"]
    rels = ("lab/plots.py", "lab/data.py", "lab/model.py", "lab/optim/__init__.py", "lab/optim/network.py",
            "lab/net.py", "lab/nets/char_mlp.py", "lab/layers/linear.py")  # fmt: skip
    for rel in rels:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(f"# {rel}\n", encoding="utf-8")
    monkeypatch.setattr(B, "ROOT", tmp_path)
    assert B._figure_inputs("net source", network=True) != B._figure_inputs("net source")
    for rel in ("lab/net.py", "lab/nets/char_mlp.py", "lab/nets/another.py", "lab/layers/linear.py",
                "lab/optim/network.py"):  # fmt: skip
        before = B._figure_inputs("net source", network=True)
        (tmp_path / rel).write_text("# edited\n", encoding="utf-8")
        assert B._figure_inputs("net source", network=True) != before, rel


# -- the course: one reading order -------------------------------------------------------------------

COURSE = """[[part]]
title = "First"
steps = ["logistic_regression"]

[[part]]
title = "Second"
about = "What the second part is for."
steps = ["lessons/demo"]
new = ["model", "lesson"]

[part.teaches]
"lessons/demo" = "Checks $\\\\kappa$ against the spectrum."
"""


def test_the_course_declares_the_order_and_a_step_it_does_not_list_joins_the_end_of_its_part(sources):
    d, _, out = sources
    (d / "lessons").mkdir()
    (d / "lessons" / "demo.md").write_text(LESSON, encoding="utf-8")
    (d / "lessons" / "other.md").write_text("# Other\n\nText.\n", encoding="utf-8")
    (d / "course.toml").write_text(COURSE, encoding="utf-8")
    _build(sources)
    index = (out / "index.html").read_text(encoding="utf-8")
    step = r'<li class="step (?:model|lesson)" id="step-\d+"><span class="num">\d+</span><div><a href="([^"]+)"'
    order = re.findall(step, index)
    # declared: logistic, then the demo lesson; not listed: linear_regression and the lesson "other", appended to
    # the part that takes new pages (models first, then lessons)
    assert order == ["logistic_regression.html", "lesson-demo.html", "linear_regression.html", "lesson-other.html"]
    assert "Part 1. First" in index and "Part 2. Second" in index and "What the second part is for." in index
    teaches = index[index.index('href="lesson-demo.html"') :]
    assert '<span class="katex">' in teaches[: teaches.index("</li>")] and "$" not in teaches[: teaches.index("</li>")]
    page = (out / "lesson-demo.html").read_text(encoding="utf-8")
    nav = page[page.index('<nav class="course"') : page.index("</nav>")]
    assert 'rel="prev" href="logistic_regression.html"' in nav and 'rel="next" href="linear_regression.html"' in nav
    assert "Step 2 of 4 · Part 2: Second" in nav
    first = (out / "logistic_regression.html").read_text(encoding="utf-8")
    assert 'class="prev edge" href="index.html">start of the course' in first
    last = (out / "lesson-other.html").read_text(encoding="utf-8")
    assert 'class="next edge" href="index.html">end of the course' in last


def test_a_course_naming_a_page_that_does_not_exist_or_twice_fails_the_build_with_its_line(sources):
    d, _, _ = sources
    (d / "course.toml").write_text(
        '[[part]]\ntitle = "A"\nsteps = ["linear_regression", "lessons/nope"]\n\n'
        '[[part]]\ntitle = "B"\nsteps = ["linear_regression", "no_such_model"]\n',
        encoding="utf-8",
    )
    with pytest.raises(BuildError) as e:
        _build(sources)
    rel = (d / "course.toml").as_posix()
    assert e.value.problems == [
        f"{rel}:3: lessons/nope: there is no derivations/lessons/nope.md",
        f"{rel}:3: linear_regression is listed twice (first in A)",
        f"{rel}:7: no_such_model: there is no lab/models/no_such_model.py",
    ]


def test_the_lab_s_course_lists_every_model_and_lesson_once_in_the_seed_s_order():
    from lab.book.course import load

    lessons = sorted(p.stem for p in (DERIV / "lessons").glob("*.md") if not p.stem.startswith("_"))
    course = load(DERIV, _names(), lessons, layers=_layer_names(), nets=_net_names())
    assert course.problems == []
    keys = [s.key for s in course.steps]
    everything = [*_names(), *(f"lessons/{n}" for n in lessons), *(f"layers/{n}" for n in _layer_names()),
                  *(f"nets/{n}" for n in _net_names())]  # fmt: skip
    assert sorted(keys) == sorted(everything) and len(set(keys)) == len(keys)
    assert all(s.listed for s in course.steps), "the lab's own pages are all placed by hand"
    assert [p.title for p in course.parts][:3] == ["One feature", "Many features", "Classification"]
    assert keys[0] == "linear_regression" and keys[-1] == "nets/transformer"  # one feature first, the networks last
    # a lesson comes after every model it uses, and after a lesson it builds on
    for lesson in lessons:
        text = (DERIV / "lessons" / f"{lesson}.md").read_text(encoding="utf-8")
        for model in _names():
            if f'get("{model}")' in text:
                assert keys.index(model) < keys.index(f"lessons/{lesson}"), (model, lesson)
    assert keys.index("lessons/convergence") < keys.index("lessons/conditioning")  # "The lesson on convergence showed"
    assert keys.index("lessons/conditioning") < keys.index("lessons/overfitting")
    assert keys.index("lessons/no_minimum") < keys.index("lessons/one_family")


def _entry(**kw):
    base = {"model": "logistic_regression", "status": "pass", "cases": 2048, "cases_outside_domain": 0,
            "cases_skipped": {}, "cases_inconclusive": {}, "cases_inexact": 0, "max_error": 1e-15,
            "max_error_over_tolerance": 0.2, "derivation": "ok", "message": "", "diagnosis": None,
            "counterexample": None}  # fmt: skip
    return base | kw


def test_the_card_reads_the_report_s_fields_not_its_messages():
    from lab.book.build import card, report_entry, verdict

    src = (MODELS / "logistic_regression.py").read_text(encoding="utf-8")
    mostly = report_entry(
        _entry(cases=300, cases_inconclusive={"each entry of autodiff is within its error bound of 0": 1748}), src
    )
    word, cls, sentence = verdict(mostly)
    assert (word, cls) == ("mostly inconclusive", "warn") and "1748 of 2048" in sentence
    some = report_entry(
        _entry(cases=2047, cases_inconclusive={"each entry of autodiff is within its error bound of 0": 1}), src
    )
    assert verdict(some)[:2] == ("verified", "ok")
    assert report_entry(_entry(), src)["hessian"] == "checked against jax.hessian"
    wrong_h = _entry(status="fail", counterexample={"where": "H[0, 1]"}, message="verified in words only")
    assert report_entry(wrong_h, src)["hessian"] == "wrong at H[0, 1]"
    assert verdict(report_entry(wrong_h, src))[0] == "FAIL"  # the message's words are never read as the status
    grad_first = _entry(status="fail", counterexample={"where": "w[0]"})
    assert report_entry(grad_first, src)["hessian"] == "not judged: the run stopped before it"
    mlp = (MODELS / "mlp.py").read_text(encoding="utf-8")
    assert report_entry(_entry(model="mlp"), mlp)["hessian"] == "none: this model has no hand Hessian"
    huber = (MODELS / "huber_regression.py").read_text(encoding="utf-8")
    assert report_entry(_entry(model="huber_regression"), huber)["hessian"].endswith("off the kinks")
    html = card("logistic_regression", {"logistic_regression": _entry(cases=300, cases_inconclusive={"r": 1748})},
                {"commit": "abc", "when": "now"}, source=src)  # fmt: skip
    assert ">mostly inconclusive<" in html and ">verified<" not in html
    for term in ("outside the domain", "inconclusive", "inexact", "of tolerance", "Hessian"):
        assert f"<dt>{term}</dt><dd>" in html.split('class="legend"')[1], term  # each term has its legend


# -- the layers: a page each, beside the models ------------------------------------------------------

#: The issue's teaching order (issue 20), the order of the course's part "Layers".
LAYER_ORDER = ["linear", "relu", "gelu", "tanh", "softmax", "cross_entropy", "embedding", "flatten", "position",
               "dropout", "layer_norm", "rms_norm", "batch_norm", "residual", "conv1d", "max_pool1d",
               "causal_self_attention", "multi_head_attention"]  # fmt: skip
LAYER_PAIR = ("linear", "relu")


@pytest.fixture
def layer_sources(sources):
    """The two models' copies, and copies of two layers with their derivations."""
    d, m, out = sources
    (d / "layers").mkdir()
    lay = d.parent / "layers"
    lay.mkdir()
    for n in (*LAYER_PAIR, "softmax"):
        shutil.copy(DERIV / "layers" / f"{n}.md", d / "layers" / f"{n}.md")
        shutil.copy(LAYERS / f"{n}.py", lay / f"{n}.py")
    return d, m, out, lay


LAYER_COURSE = """[[part]]
title = "Models"
steps = ["logistic_regression", "linear_regression"]

[[part]]
title = "Layers"
steps = ["layers/relu", "layers/linear"]
new = ["layer"]
"""


def _build_layers(layer_sources, **kw):
    d, m, out, lay = layer_sources
    return build(out, derivations=d, models=m, layers=lay, report=None, readme=None, figures=False, **kw)


def test_a_layer_gets_a_page_beside_its_file_with_citations_linked_both_ways(layer_sources):
    d, _, out, lay = layer_sources
    result = _build_layers(layer_sources)
    assert {"layer-linear", "layer-relu", *PAIR} <= set(result.built)
    assert not (out / "linear.html").exists()  # layer-NAME.html: no name a model could take
    for name in LAYER_PAIR:
        page = (out / f"layer-{name}.html").read_text(encoding="utf-8")
        text = (d / "layers" / f"{name}.md").read_text(encoding="utf-8")
        source = (lay / f"{name}.py").read_text(encoding="utf-8")
        assert f"<h1>layers/{name}</h1>" in page and "$$" not in page and "katex-error" not in page
        for label in set(TAG.findall(text)):
            assert f'id="eq-{label}"' in page
        cites = 0
        for i, line in enumerate(source.splitlines(), start=1):
            assert f'id="L{i}"' in page
            for label in cited(line):
                assert f'<a class="cite" href="#eq-{label}">{label}</a>' in page  # code -> equation
                assert f'<a class="back" href="#L{i}">{i}</a>' in page  # equation -> code
                cites += 1
        assert cites > 0
        assert f'<a href="#code"><code>lab/layers/{name}.py</code></a>' in page  # the derivation's link to its file
        # no promise a layer cannot keep: no trained figure, no notebook
        assert 'id="trained"' not in page and 'href="#trained"' not in page and "notebooks/" not in page
        assert 'id="verification"' in page and '<a href="#code">The layer file</a>' in page
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="layer-linear.html"' in index and "layer <code>layers/linear</code>" in index
    assert 'href="layer-linear.html#trained"' not in index
    assert _build_layers(layer_sources).built == []  # nothing changed, nothing rebuilt


def test_a_layer_citing_a_missing_equation_or_without_a_derivation_fails_the_build(layer_sources):
    d, _, _, lay = layer_sources
    line = _insert(lay / "relu.py", 12, "# the curvature (eq. 99)")
    with pytest.raises(BuildError) as e:
        _build_layers(layer_sources)
    assert f"{(lay / 'relu.py').as_posix()}:{line}: cites eq. 99, which" in "\n".join(e.value.problems)
    (d / "layers" / "linear.md").unlink()
    with pytest.raises(BuildError) as e:
        _build_layers(layer_sources)
    assert any(p.endswith("layers/linear.md:1: missing: layer linear has no derivation") for p in e.value.problems)


def test_a_layer_s_course_neighbours_follow_course_toml_and_an_unlisted_layer_joins_its_part(layer_sources):
    d, m, out, lay = layer_sources
    (d / "course.toml").write_text(LAYER_COURSE, encoding="utf-8")
    _build_layers(layer_sources)

    def nav(page: str) -> str:
        html = (out / f"{page}.html").read_text(encoding="utf-8")
        return html[html.index('<nav class="course"') : html.index("</nav>")]

    first = nav("layer-relu")
    assert 'rel="prev" href="linear_regression.html"' in first and 'rel="next" href="layer-linear.html"' in first
    assert "Step 3 of 5 · Part 2: Layers" in first
    middle = nav("layer-linear")  # softmax is not listed: it joins the end of the part that takes new layers
    assert 'rel="prev" href="layer-relu.html"' in middle and 'rel="next" href="layer-softmax.html"' in middle
    assert 'class="next edge" href="index.html">end of the course' in nav("layer-softmax")
    assert 'rel="next" href="layer-relu.html"' in nav("linear_regression")
    (d / "course.toml").write_text(LAYER_COURSE.replace('"layers/linear"]', '"layers/linear", "layers/nope"]'),
                                   encoding="utf-8")  # fmt: skip
    with pytest.raises(BuildError) as e:
        _build_layers(layer_sources)
    assert e.value.problems == [f"{(d / 'course.toml').as_posix()}:7: layers/nope: there is no lab/layers/nope.py"]


def test_a_layer_s_card_reads_its_entry_in_the_report(layer_sources, tmp_path):
    d, m, out, lay = layer_sources
    report = tmp_path / "verify.json"
    entry = _entry(model="layers/linear", cases=512, max_error_over_tolerance=0.05)
    report.write_text(json.dumps([entry]), encoding="utf-8")
    build(out, derivations=d, models=m, layers=lay, report=report, readme=None, figures=False)
    page = (out / "layer-linear.html").read_text(encoding="utf-8")
    card = page[page.index('id="verification"') : page.index('<nav class="toc"')]
    assert ">verified<" in card and ">512<" in card and "5%" in card
    assert "none: a layer is checked through its vjp" in card
    assert "has no entry for layers/relu" in (out / "layer-relu.html").read_text(encoding="utf-8")
    index = (out / "index.html").read_text(encoding="utf-8")
    step = index[index.index('href="layer-linear.html"') :]
    assert '<span class="status ok">verified</span>' in step[: step.index("</li>")]


def test_lab_book_opens_a_layer_s_page_by_its_name(layer_sources, capsys):
    d, m, out, lay = layer_sources
    kw = dict(out=out, derivations=d, models=m, layers=lay, report=None, readme=None, figures=False)
    for name in ("layers/linear", "linear"):
        assert run(name, **kw) == 0
        assert capsys.readouterr().out.rstrip().endswith("layer-linear.html")
    assert run("layers/nope", **kw) == 2


def test_the_lab_s_course_reads_the_layers_in_the_issue_s_order_before_the_network():
    from lab.book.course import load

    lessons = sorted(p.stem for p in (DERIV / "lessons").glob("*.md") if not p.stem.startswith("_"))
    course = load(DERIV, _names(), lessons, layers=_layer_names(), nets=_net_names())
    keys = [s.key for s in course.steps]
    part = next(p for p in course.parts if p.title == "Layers")
    assert [s.key for s in part.steps] == [f"layers/{n}" for n in LAYER_ORDER]
    assert sorted(LAYER_ORDER) == _layer_names()  # every layer of the lab is placed by hand
    first, last = keys.index("layers/linear"), keys.index("layers/multi_head_attention")
    network_lessons = ["backprop_by_hand"]  # a lesson on a network reads after the layers, with the networks
    assert all(keys.index(f"lessons/{n}") < first for n in lessons if n not in network_lessons)  # after every lesson
    assert all(keys.index(n) < first for n in _names() if n != "mlp")  # after every model but the network
    assert keys[last + 1 :] == ["mlp", "lessons/backprop_by_hand", "nets/char_mlp", "nets/transformer"]
    assert part.new == ("layer",)


# -- the course in a browser --------------------------------------------------------------------------


def _course_pages() -> list[str]:
    from lab.book.course import load

    course = load(DERIV, _names(), LESSON_PAGES, layers=_layer_names(), nets=_net_names())
    return [s.page.removesuffix(".html") for s in course.steps]


def _follow(page, link) -> None:
    """Click ``link`` and wait until the page it leads to has loaded (not the one it was clicked on)."""
    with page.expect_navigation(wait_until="load"):
        link.click()


def test_next_from_the_index_walks_the_whole_course_in_its_order_and_previous_walks_it_back(book, browser):
    want = _course_pages()
    page = _open(browser, (book / "index.html").as_uri())
    steps = page.eval_on_selector_all(".syllabus li.step > div > a", "as => as.map(a => a.getAttribute('href'))")
    assert steps == [f"{n}.html" for n in want]  # the index is the syllabus, in the course's order
    assert page.locator(".syllabus li.step .teaches").evaluate_all("ts => ts.every(t => t.textContent.trim())")
    prose = page.evaluate(
        """() => { const s = document.querySelector('.syllabus').cloneNode(true);
                   s.querySelectorAll('code, .katex-mathml').forEach(e => e.remove()); return s.textContent; }"""
    )
    assert "$" not in prose and not re.search(r"\\[A-Za-z]+", prose), "raw TeX in the syllabus"
    _follow(page, page.locator("p.start a"))
    seen, back = [], []  # back: where each page's "previous" leads
    for _ in range(len(want) + 1):
        seen.append(Path(page.url).stem)
        assert page.locator("nav.course").count() == 1 and page.locator("nav.pager").count() == 1
        prev = page.locator('nav.course a[rel="prev"]')
        back.append(prev.get_attribute("href").removesuffix(".html") if prev.count() else None)
        nxt = page.locator('nav.course a[rel="next"]')
        if nxt.count() == 0:
            assert page.locator("nav.course a.next.edge").get_attribute("href") == "index.html"
            break
        assert page.locator('nav.pager a[rel="next"]').get_attribute("href") == nxt.get_attribute("href")
        _follow(page, nxt)
    assert seen == want
    assert back == [None, *want[:-1]]  # "previous" walks it back, step by step, to the first page
    _follow(page, page.locator('nav.course a[rel="prev"]'))  # and a click on it goes there
    assert Path(page.url).stem == want[-2] and page.problems == []


_CLIPPED = """() => [...document.querySelectorAll('.katex-display')].filter(d => {
    const box = d.getBoundingClientRect(), tag = d.querySelector('.katex-tag');
    const t = tag && tag.offsetParent !== null ? tag.getBoundingClientRect() : null;
    return d.scrollWidth > d.clientWidth + 1 || (t && (t.right > box.right + 1 || t.left < box.left - 1));
  }).map(d => (d.closest('.eq') || {}).id || d.textContent.slice(0, 40))"""


def _typeset(browser, book, name: str, width: int) -> dict:
    """Course page ``name`` at ``width`` × 900 once book.js has fitted its equations (fonts loaded): the
    display equations clipped or with a hidden number, the scale of each one fitted, and the page open."""
    page = _open(browser, (book / f"{name}.html").as_uri(), width=width, height=900)
    page.evaluate("document.fonts.ready")
    page.wait_for_selector("html[data-fitted]", state="attached")
    fits = page.eval_on_selector_all(".katex-display[data-fit]", "ds => ds.map(d => +d.dataset.fit)")
    return {"page": page, "clipped": page.evaluate(_CLIPPED), "fits": fits, "problems": page.problems}


@pytest.fixture(scope="session")
def desktop(book, browser) -> dict:
    """Each course page opened once at 1440 × 900 for the run, and what the tests of the table of contents
    and of the equations' width read of it (a page load costs most of a second)."""
    saved = book.parent / "desktop.json"
    with _locked(saved):
        if not saved.exists():
            saved.write_text(json.dumps(_read_desktop(book, browser)), encoding="utf-8")
    return json.loads(saved.read_text(encoding="utf-8"))


def _read_desktop(book, browser) -> dict:
    out = {}
    for name in _course_pages():
        seen = _typeset(browser, book, name, 1440)
        page = seen.pop("page")
        seen["links"] = page.eval_on_selector_all("nav.toc a", "as => as.map(a => a.getAttribute('href').slice(1))")
        seen["headings"] = page.eval_on_selector_all(".md h2[id], .md h3[id]", "hs => hs.map(h => h.id)")
        seen["unique"] = all(page.locator(f"[id='{a}']").count() == 1 for a in seen["links"])
        seen["summary"] = page.locator("nav.course summary").inner_text()
        if seen["links"]:  # the middle entry, clicked: its section becomes the location and comes into view
            target = seen["links"][len(seen["links"]) // 2]
            page.locator("nav.toc a").nth(len(seen["links"]) // 2).click()
            page.wait_for_function("id => decodeURIComponent(location.hash) === '#' + id", arg=target)
            seen["clicked_in_view"] = page.evaluate(_IN_VIEW, target)["visible"]
        out[name] = seen
    return out


@pytest.mark.parametrize("name", _course_pages())
def test_every_page_has_a_table_of_contents_that_lands_on_each_section(desktop, name):
    seen = desktop[name]
    links, headings = seen["links"], seen["headings"]
    assert headings and [a for a in links if a in headings] == headings  # every section, in order
    assert seen["unique"], links  # each entry's anchor names exactly one element
    assert seen["clicked_in_view"]
    assert re.fullmatch(r"Step \d+ of \d+ · Part \d+: .+", seen["summary"]), seen["summary"]
    assert seen["problems"] == []


@pytest.mark.parametrize("width", [1440, 390])
def test_no_display_equation_is_clipped_nor_its_number_hidden_by_a_scroll_bar(desktop, book, browser, width):
    clipped, smallest = {}, 1.0
    for name in _course_pages():
        if width == 1440:
            seen = desktop[name]
        else:
            seen = _typeset(browser, book, name, width)
            seen.pop("page")
        assert seen["problems"] == [], (name, seen["problems"])
        if seen["clipped"]:
            clipped[name] = seen["clipped"]
        smallest = min([smallest, *seen["fits"]])
    assert clipped == {}, f"clipped at {width} px: {clipped}"
    print(f"at {width} px the widest equation is typeset at {smallest:.0%} of its size")


def test_on_a_phone_the_first_screen_shows_the_text_not_only_navigation_and_card(book, browser):
    for name in ("logistic_regression", "lesson-convergence"):
        page = _open(browser, (book / f"{name}.html").as_uri(), width=390, height=844)
        top = page.evaluate("document.querySelector('.md h1').getBoundingClientRect().top")
        assert top < 844 / 2, f"{name}: the text starts at {top:.0f} px"
        assert page.locator("nav.toc details").evaluate("d => !d.open")
        if name == "logistic_regression":
            assert page.locator("#verification").evaluate("d => !d.open")
            # the verdict (or "not run", before any make verify) stays in view
            assert page.locator("#verification summary :is(.status, .sum)").first.inner_text()


# -- the layers in a browser ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", _layer_names())
def test_every_layer_page_loads_offline_and_each_citation_and_back_link_lands(book, browser, name):
    page = _open(browser, (book / f"layer-{name}.html").as_uri())
    page.evaluate("document.fonts.ready")
    assert page.locator(".katex-error").count() == 0
    text = (DERIV / "layers" / f"{name}.md").read_text(encoding="utf-8")
    assert page.locator(".eq[id^=eq-]").count() == len(TAG.findall(text)) > 0
    assert page.locator("#verification").count() == 1
    assert page.locator("#trained, a.notebook").count() == 0  # a layer has no figure and no notebook
    clicked = _click_every_link(page)
    assert clicked > 0 and page.problems == []
    assert f'href="layer-{name}.html"' in (book / "index.html").read_text(encoding="utf-8")


# -- the networks: a page each, with a short training run ------------------------------------------------


@pytest.fixture
def net_sources(sources):
    """The two models' copies, and copies of the lab's networks with their derivations."""
    d, m, out = sources
    (d / "nets").mkdir()
    nets = d.parent / "nets"
    nets.mkdir()
    for n in _net_names():
        shutil.copy(DERIV / "nets" / f"{n}.md", d / "nets" / f"{n}.md")
        shutil.copy(NETS / f"{n}.py", nets / f"{n}.py")
    return d, m, out, nets


def _build_nets(net_sources, **kw):
    d, m, out, nets = net_sources
    return build(out, derivations=d, models=m, nets=nets, report=None, readme=None, figures=False, **kw)


def test_a_network_gets_a_page_beside_its_file_with_citations_linked_both_ways(net_sources):
    d, _, out, nets = net_sources
    result = _build_nets(net_sources)
    assert {"net-char_mlp", "net-transformer", *PAIR} <= set(result.built)
    for name in _net_names():
        page = (out / f"net-{name}.html").read_text(encoding="utf-8")
        text = (d / "nets" / f"{name}.md").read_text(encoding="utf-8")
        source = (nets / f"{name}.py").read_text(encoding="utf-8").splitlines()
        assert f"<h1>nets/{name}</h1>" in page and "$$" not in page and "katex-error" not in page
        for label in set(TAG.findall(text)):
            assert f'id="eq-{label}"' in page
        cites = 0
        for i, line in enumerate(source, start=1):
            assert f'id="L{i}"' in page
            for label in cited(line):
                assert f'<a class="cite" href="#eq-{label}">{label}</a>' in page  # code -> equation
                cites += 1
        assert cites > 0
        for label in {lab for line in source for lab in cited(line)}:  # equation -> exactly the lines citing it
            lines = [i for i, line in enumerate(source, start=1) if label in cited(line)]
            eq = page[page.index(f'id="eq-{label}"') :]
            word = "line" if len(lines) == 1 else "lines"
            want = f"implemented at {word} " + ", ".join(f'<a class="back" href="#L{i}">{i}</a>' for i in lines)
            assert want in eq[: eq.index("</div>")], (name, label)
        assert f'<a href="#code"><code>lab/nets/{name}.py</code></a>' in page  # the derivation's link to its file
        assert 'href="../lab/net.py"' in page  # ../../lab/net.py from derivations/nets/ is ../lab/net.py from book/
        assert '<a href="#code">The network file</a>' in page and 'id="verification"' in page
        assert 'id="trained"' in page and "Figures are off for this build" in page
        assert f"lab notebook nets/{name}" in page  # its notebook (written for the lab's own derivations only)
    transformer = (out / "net-transformer.html").read_text(encoding="utf-8")
    assert '<a href="net-char_mlp.html">char_mlp.md</a>' in transformer  # a network's sibling derivation
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="net-char_mlp.html#trained"' in index and "network <code>nets/char_mlp</code>" in index
    assert _build_nets(net_sources).built == []  # nothing changed, nothing rebuilt


def test_a_network_s_card_reads_its_entry_and_lab_book_opens_its_page(net_sources, tmp_path, capsys):
    d, m, out, nets = net_sources
    report = tmp_path / "verify.json"
    report.write_text(json.dumps([_entry(model="nets/char_mlp", cases=700)]), encoding="utf-8")
    kw = dict(out=out, derivations=d, models=m, nets=nets, report=report, readme=None, figures=False)
    assert run("nets/char_mlp", **kw) == 0
    assert capsys.readouterr().out.rstrip().endswith("net-char_mlp.html")
    page = (out / "net-char_mlp.html").read_text(encoding="utf-8")
    card = page[page.index('id="verification"') : page.index('<nav class="toc"')]
    assert ">verified<" in card and ">700<" in card and "none: a network is checked through its backward" in card
    assert "has no entry for nets/transformer" in (out / "net-transformer.html").read_text(encoding="utf-8")
    assert run("nets/nope", **kw) == 2


def test_a_network_s_caption_states_the_run_it_drew(tmp_path):
    """The caption's every number is the run's: the run is trained again from what the figure says it was, and
    every figure the caption gives (steps, sizes, losses) is that run's."""
    from lab.book import figures
    from lab.nets import char_mlp
    from lab.optim.network import UNIFORM, train

    made = figures.network("nets/char_mlp", tmp_path / "char_mlp.png", steps=60)
    assert made.path is not None and made.path.stat().st_size > 1000
    d = made.data
    again = train(char_mlp, steps=d["steps"], batch=d["batch"], lr=d["lr"], seed=d["seed"], sizes=d["sizes"])
    assert (again.steps, again.train, again.validation) == (d["eval_steps"], d["train"], d["validation"])
    assert again.final_validation == d["final_validation"] and again.samples == made.samples
    assert d["parameters"] == sum(v.size for v in again.params.values()) and len(made.samples) == 10
    said = [f"for {d['steps']} steps", f"batches of {d['batch']} windows", f"{d['block']} characters of context",
            *(f"{k} = {v}" for k, v in d["sizes"].items()), f"{d['parameters']:,} parameters",
            f"learning rate {d['lr']:g}", f"every {again.steps[0]} steps",
            f"at step {again.steps[-1]} they read {again.train[-1]:.3f} (training) and "
            f"{again.validation[-1]:.3f} (validation)", f"{d['validation_windows']:,} validation windows",
            f"scores {again.final_validation:.3f} nats per character", f"log 27 = {UNIFORM:.3f}"]  # fmt: skip
    for want in said:
        assert want in made.caption, want
    losses = {f"{v:.3f}" for v in (again.train[-1], again.validation[-1], again.final_validation, UNIFORM)}
    assert set(re.findall(r"\b\d\.\d{3}\b", made.caption)) == losses  # no loss the run did not reach


def test_a_network_s_caption_names_every_size_its_init_takes(tmp_path):
    """The transformer's blocks L are a size of its init that TRAIN does not set: the caption says them too."""
    import inspect

    from lab.book import figures
    from lab.nets import transformer

    sizes = [k for k, p in inspect.signature(transformer.init).parameters.items() if p.kind is p.KEYWORD_ONLY]
    assert "L" in sizes and "L" not in transformer.TRAIN
    made = figures.network("nets/transformer", tmp_path / "transformer.png", steps=20)
    assert made.path is not None, made.caption
    for k in sizes:
        if k != "seed":
            assert f"{k} = {made.data['sizes'][k]}" in made.caption, (k, made.caption)
    assert f"L = {transformer.L}" in made.caption
    assert f"{transformer.HEADS} attention heads" in made.caption  # not a size of init, yet what the run had


# -- the networks in a browser ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", _net_names())
def test_every_network_page_shows_its_run_and_each_citation_and_back_link_lands(book, browser, name):
    page = _open(browser, (book / f"net-{name}.html").as_uri())
    page.evaluate("document.fonts.ready")
    assert page.locator(".katex-error").count() == 0
    text = (DERIV / "nets" / f"{name}.md").read_text(encoding="utf-8")
    assert page.locator(".eq[id^=eq-]").count() == len(TAG.findall(text)) > 0
    # the figure, its caption and the sampled names are the run's, kept with the figure in the book's manifest
    fig = json.loads((book / ".manifest.json").read_text(encoding="utf-8"))["figures"][f"net-{name}"]
    data = fig["data"]
    img = page.locator("#trained img")
    img.evaluate("i => { i.loading = 'eager'; }")
    page.wait_for_function("document.querySelector('#trained img').complete")
    assert img.evaluate("i => i.naturalWidth") > 0
    caption = page.locator("#trained figcaption").inner_text()
    assert caption.startswith(fig["caption"])
    said = (f"for {data['steps']} steps", f"{data['train'][-1]:.3f} (training)",
            f"{data['validation'][-1]:.3f} (validation)", f"scores {data['final_validation']:.3f} nats")  # fmt: skip
    for want in said:
        assert want in caption, want
    assert data["eval_steps"][-1] == data["steps"] and data["final_validation"] < data["validation"][0]  # it learned
    shown = page.locator("#trained ol.samples li").all_inner_texts()
    assert shown == [s or "(empty)" for s in fig["samples"]] and len(shown) == 10
    assert page.locator("a.notebook").get_attribute("href") == f"notebooks/net-{name}.ipynb"
    assert (book / "notebooks" / f"net-{name}.ipynb").stat().st_size > 1000  # lab notebook nets/NAME
    clicked = _click_every_link(page)
    assert clicked > 0 and page.problems == []
    narrow = _open(browser, (book / f"net-{name}.html").as_uri() + "#trained", width=390, height=800)
    assert narrow.evaluate("document.scrollingElement.scrollWidth <= innerWidth"), "sideways overflow at 390 px"
    assert f'href="net-{name}.html"' in (book / "index.html").read_text(encoding="utf-8")
