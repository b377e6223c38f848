"""Build the study book: one page per model, the derivation beside the code, linked both ways; one page
per lesson (``derivations/lessons/NAME.md`` -> ``lesson-NAME.html``, its figures drawn by running its blocks);
one page per layer (``derivations/layers/NAME.md`` beside ``lab/layers/NAME.py`` -> ``layer-NAME.html``, no
figure and no notebook); one page per network (``derivations/nets/NAME.md`` beside ``lab/nets/NAME.py`` ->
``net-NAME.html``, with the loss curve and sampled names of a short training run); and each model's, lesson's
and network's notebook in ``notebooks/`` (``lab.notebook``).

Sources: ``derivations/NAME.md`` (markdown-it-py with dollar math and tables) and
``lab/models/NAME.py`` (Pygments). All math of a build goes to KaTeX in one node
process (``katex_batch.cjs``, KaTeX pinned by ``package-lock.json``), so a page needs
no script to show its math. An equation ``\\tag{7}`` gets the anchor ``eq-7``; every
``(eq. 7)`` in the code links to it, and under equation 7 "implemented at lines ..."
links back to ``#L54``. The parsing of tags and citations is the verifier's own
(``lab.derivations.check``), so the book and ``make verify`` agree on what a citation is.

Incremental: ``book/.manifest.json`` keeps a hash of each page's inputs (its derivation,
its code, its verification card, its figure's inputs and the builder itself). A page
whose hash is unchanged is not rebuilt, and node is not started when no page needs math.
A page whose sources are gone (a model, layer, network or lesson deleted or renamed) is
deleted with its notebook and figure, so the book never serves a page nothing links to.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin
from mdit_py_plugins.dollarmath import dollarmath_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer, TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from lab.book.course import COURSE_FILE, SAID, Course, Step
from lab.book.course import load as load_course
from lab.derivations import CITE, TAG, cited, label_key

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = ROOT / "book"
DERIVATIONS = ROOT / "derivations"
MODELS = ROOT / "lab" / "models"
LAYERS = ROOT / "lab" / "layers"
NETS = ROOT / "lab" / "nets"
README = ROOT / "README.md"
#: Where ``make verify`` writes its JSON report, and the commit it ran on, for the verification cards.
REPORT = ROOT / ".cache" / "verify.json"
COMMIT_SUFFIX = ".commit"
KATEX = HERE / "node_modules" / "katex"
LOCK = HERE / "package-lock.json"
INSTALL = "apt-get install nodejs npm"
MANIFEST = ".manifest.json"
CODE_STYLES = ("default", "github-dark")  # Pygments styles: light, and dark under prefers-color-scheme
SITE = "The gradient lab"
LESSONS = "lessons"  # derivations/lessons/NAME.md: a chapter across models, on the page lesson-NAME.html
LESSON_PREFIX = "lesson-"
LAYER_DIR = "layers"  # derivations/layers/NAME.md beside lab/layers/NAME.py, on the page layer-NAME.html
LAYER_PREFIX = "layer-"
NET_DIR = "nets"  # derivations/nets/NAME.md beside lab/nets/NAME.py, on the page net-NAME.html
NET_PREFIX = "net-"


class BuildError(Exception):
    """The sources are wrong: each problem is one ``file:line: message`` line. Exit code 1."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class ToolMissing(Exception):
    """node or npm is missing: one line with the command that installs them. Exit code 2."""


@dataclass
class BuildResult:
    out: Path
    built: list[str] = field(default_factory=list)  # pages (model names) written by this build
    kept: list[str] = field(default_factory=list)  # pages whose inputs had not changed
    index_built: bool = False
    figures_drawn: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # pages of an earlier build whose sources are gone, deleted
    seconds: float = 0.0


# -- KaTeX ----------------------------------------------------------------------------------


def ensure_katex() -> Path:
    """KaTeX from npm at the version of package-lock.json: ``npm ci`` when it is missing or older than the lock."""
    stamp = HERE / "node_modules" / ".package-lock.json"
    if (KATEX / "package.json").exists() and stamp.exists() and stamp.stat().st_mtime >= LOCK.stat().st_mtime:
        return KATEX
    if not shutil.which("npm") or not shutil.which("node"):
        raise ToolMissing(f"the book needs node and npm, to install KaTeX; install them with: {INSTALL}")
    proc = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, capture_output=True, text=True
    )
    if proc.returncode != 0 or not (KATEX / "package.json").exists():
        raise ToolMissing(f"npm ci in {HERE} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    stamp.touch()
    return KATEX


def katex_version() -> str:
    return json.loads((ensure_katex() / "package.json").read_text(encoding="utf-8"))["version"]


def typeset(items: list[tuple[str, bool]]) -> list[tuple[str | None, str | None]]:
    """KaTeX on every ``(tex, display)`` at once, in one node process: ``(html, None)`` or ``(None, error)``."""
    if not items:
        return []
    ensure_katex()
    node = shutil.which("node")
    if node is None:
        raise ToolMissing(f"the book needs node, to run KaTeX; install it with: {INSTALL}")
    payload = json.dumps([{"tex": t, "display": d} for t, d in items])
    proc = subprocess.run(
        [node, str(HERE / "katex_batch.cjs")], input=payload, capture_output=True, text=True, encoding="utf-8"
    )
    if proc.returncode != 0:
        raise ToolMissing(f"KaTeX's node script failed: {proc.stderr.strip().splitlines()[-1:]}")
    return [(r.get("html"), r.get("error")) for r in json.loads(proc.stdout)["results"]]


# -- the code pane --------------------------------------------------------------------------


def _link_citations(line_html: str, known: set[str] | None, page: str = "") -> str:
    """Turn every "(eq. 7)" / "(eqs. 8, 9)" in a highlighted line into links to ``page#eq-N``.

    ``known``: the labels that exist (others stay text); None links every label.
    """

    def one(m: re.Match) -> str:
        labels = cited(m.group(0))
        start = m.start(1) - m.start(0)

        def label(t: re.Match) -> str:
            lab = t.group(0)
            if lab not in labels or (known is not None and lab not in known):
                return lab
            return f'<a class="cite" href="{page}#eq-{_anchor(lab)}">{lab}</a>'

        inner = re.sub(r"[0-9][0-9a-z]*", label, m.group(1))
        return m.group(0)[:start] + inner + m.group(0)[m.end(1) - m.start(0) :]

    return CITE.sub(one, line_html)


def _highlight_lines(source: str, lexer) -> list[str]:
    """The source highlighted by Pygments, one HTML string per source line (spans are closed at each line end)."""
    out = highlight(source, lexer, HtmlFormatter(nowrap=True)).split("\n")
    n = source.count("\n") + (0 if source.endswith("\n") else 1)
    return out[:n]


@dataclass
class Code:
    html: str
    cites: dict[str, list[int]]  # label -> lines that cite it
    problems: list[str]


def code_pane(source: str, rel: str, tags: set[str], deriv_rel: str) -> Code:
    """The whole model file, highlighted, each line ``id="L<n>"``, every citation a link to its equation."""
    lines = _highlight_lines(source, PythonLexer(stripnl=False, ensurenl=True))
    cites: dict[str, list[int]] = {}
    problems = []
    for i, text in enumerate(source.splitlines(), start=1):
        for lab in sorted(cited(text), key=label_key):
            cites.setdefault(lab, []).append(i)
            if lab not in tags:
                problems.append(f"{rel}:{i}: cites eq. {lab}, which {deriv_rel} does not label")
    for lab in sorted(cited(source) - set(cites), key=label_key):  # a citation broken over two lines
        if lab not in tags:
            problems.append(f"{rel}:1: cites eq. {lab}, which {deriv_rel} does not label")
    rows = []
    for i, line_html in enumerate(lines, start=1):
        rows.append(
            f'<span class="line" id="L{i}"><a class="ln" href="#L{i}" aria-label="line {i}">{i}</a>'
            f'<span class="lc">{_link_citations(line_html, tags) or " "}</span></span>'
        )
    return Code('<pre class="src code-file"><code>' + "".join(rows) + "</code></pre>", cites, problems)


# -- the derivation pane --------------------------------------------------------------------

MATH = "\x00M{}\x00"
MATH_RE = re.compile("\x00M(\\d+)\x00")


@dataclass
class Math:
    tex: str
    display: bool
    file: str
    line: int
    html: str = ""


def _anchor(label: str) -> str:
    return re.sub(r"[^0-9A-Za-z._-]", "-", label)


def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "typographer": False})
    md.use(dollarmath_plugin, allow_labels=False, allow_space=True, allow_digits=False, double_inline=True)
    md.use(anchors_plugin, min_level=2, max_level=3)
    md.enable(["table", "strikethrough"])
    return md


def _lines_of_inline(src_lines: list[str], token, content: str) -> int:
    """The 1-based line of ``content`` inside an inline token that spans ``token.map``."""
    a, b = token.map if token.map else (0, 1)
    block = "\n".join(src_lines[a:b])
    at = block.find(content)
    return a + 1 + (block.count("\n", 0, at) if at >= 0 else 0)


@dataclass
class Derivation:
    html: str
    math: list[Math]
    tags: dict[str, int]  # label -> line of its equation
    problems: list[str]


def derivation_pane(text: str, rel: str, names: set[str], page: str, images: dict[str, Path],
                    lessons: set[str] = frozenset(), layers: set[str] = frozenset(),
                    nets: set[str] = frozenset()) -> Derivation:  # fmt: skip
    """Markdown to HTML with a placeholder for each formula (typeset later, all pages in one batch)."""
    md = _markdown()
    tokens = md.parse(text)
    src_lines = text.splitlines()
    labelled = set(TAG.findall(text))  # the python blocks link only the equations that exist
    math: list[Math] = []
    tags: dict[str, int] = {}
    problems: list[str] = []
    for tok in tokens:
        if tok.type in ("math_block", "math_block_label"):
            tok.meta["line"] = tok.map[0] + 1 if tok.map else 1
        for child in tok.children or ():
            if child.type.startswith("math"):
                child.meta["line"] = _lines_of_inline(src_lines, tok, child.content)

    def add(tok, display: bool) -> int:
        raw = tok.content
        lead = raw[: len(raw) - len(raw.lstrip())].count("\n")  # $$ on a line of its own: the TeX starts below
        math.append(Math(raw.strip(), display, rel, tok.meta.get("line", 1) + lead))
        return len(math) - 1

    def math_inline(self, tokens, idx, options, env):
        return MATH.format(add(tokens[idx], False))

    def math_inline_double(self, tokens, idx, options, env):
        return f'<span class="display-inline">{MATH.format(add(tokens[idx], True))}</span>'

    def math_block(self, tokens, idx, options, env):
        tok = tokens[idx]
        i = add(tok, True)
        found = TAG.findall(tok.content)
        if not found:
            return f'<div class="eq">{MATH.format(i)}</div>\n'
        lab = found[0]
        if lab in tags:
            problems.append(f"{rel}:{tok.meta['line']}: \\tag{{{lab}}} again (first at line {tags[lab]})")
        tags[lab] = tok.meta["line"]
        attrs = f'id="eq-{_anchor(lab)}" data-eq="{html.escape(lab)}"'
        return f'<div class="eq" {attrs}>{MATH.format(i)}@@IMPL:{lab}@@</div>\n'

    def fence(self, tokens, idx, options, env):
        tok = tokens[idx]
        lang = (tok.info or "").split()[0] if tok.info else ""
        if lang == "python":
            lines = _highlight_lines(tok.content, _lexer("python"))
            body = "\n".join(_link_citations(x, labelled, "") for x in lines)
            return (
                '<figure class="checked"><figcaption>Python, run and checked by <code>make verify</code>'
                f'</figcaption><pre class="src"><code>{body}</code></pre></figure>\n'
            )
        body = "\n".join(_highlight_lines(tok.content, _lexer(lang)))
        return f'<pre class="src"><code>{body}</code></pre>\n'

    def link_open(self, tokens, idx, options, env):
        tok = tokens[idx]
        tok.attrSet("href", _rewrite_href(tok.attrGet("href") or "", names, page, lessons, layers, nets))
        return self.renderToken(tokens, idx, options, env)

    def table_open(self, tokens, idx, options, env):
        return '<div class="table">' + self.renderToken(tokens, idx, options, env)

    def table_close(self, tokens, idx, options, env):
        return self.renderToken(tokens, idx, options, env) + "</div>"

    rules = {
        "math_inline": math_inline,
        "math_inline_double": math_inline_double,
        "math_block": math_block,
        "math_block_label": math_block,
        "fence": fence,
        "link_open": link_open,
        "table_open": table_open,
        "table_close": table_close,
    }
    for name, fn in rules.items():
        md.add_render_rule(name, fn)
    md.add_render_rule("image", lambda self, t, i, o, e: _image(t[i], images))
    body = md.renderer.render(tokens, md.options, {})
    return Derivation(body, math, tags, problems)


def _image(tok, images: dict[str, Path]) -> str:
    """An image of the derivation, copied into book/figures/ by the build."""
    src = tok.attrGet("src") or ""
    if not re.match(r"^[a-z]+:", src):
        images[Path(src).name] = Path(src)
        tok.attrSet("src", f"figures/{Path(src).name}")
    alt = html.escape("".join(c.content for c in tok.children or ()))
    return f'<img src="{html.escape(tok.attrGet("src"))}" alt="{alt}" loading="lazy">'


def _lexer(lang: str):
    try:
        return get_lexer_by_name(lang or "text", stripnl=False, ensurenl=True)
    except ClassNotFound:
        return TextLexer(stripnl=False, ensurenl=True)


def _rewrite_href(href: str, names: set[str], page: str, lessons: set[str] = frozenset(),
                  layers: set[str] = frozenset(), nets: set[str] = frozenset()) -> str:  # fmt: skip
    """Links between sources become links between pages: NAME.md -> NAME.html, lab/models/NAME.py -> #code,
    lessons/NAME.md -> lesson-NAME.html (and, from a lesson, ../NAME.md -> NAME.html), layers/NAME.md ->
    layer-NAME.html and lab/layers/NAME.py -> layer-NAME.html#code (from a layer, NAME.md is a layer too),
    nets/NAME.md -> net-NAME.html and lab/nets/NAME.py -> net-NAME.html#code (from a network, NAME.md is a
    network too); and ../../X, written from derivations/lessons/, layers/ or nets/, is ../X from book/."""
    if re.match(r"^[a-z]+:|^#", href):
        return href
    path, _, frag = href.partition("#")
    p = Path(path)
    if (
        p.suffix == ".md"
        and p.stem in lessons
        and (p.parent.name == LESSONS or (page.startswith(LESSON_PREFIX) and p.parent.name in ("", ".")))
    ):
        return f"{LESSON_PREFIX}{p.stem}.html" + (f"#{frag}" if frag else "")
    sibling = p.parent.name in ("", ".")
    on_layer = page.startswith(LAYER_PREFIX)
    if p.suffix == ".md" and p.stem in layers and (p.parent.name == LAYER_DIR or (on_layer and sibling)):
        return f"{LAYER_PREFIX}{p.stem}.html" + (f"#{frag}" if frag else "")
    if p.suffix == ".py" and p.parent.name == LAYER_DIR and p.stem in layers:
        return "#code" if page == LAYER_PREFIX + p.stem else f"{LAYER_PREFIX}{p.stem}.html#code"
    if on_layer and sibling:
        return href  # a layer's sibling is a layer, and this one has no page
    on_net = page.startswith(NET_PREFIX)
    if p.suffix == ".md" and p.stem in nets and (p.parent.name == NET_DIR or (on_net and sibling)):
        return f"{NET_PREFIX}{p.stem}.html" + (f"#{frag}" if frag else "")
    if p.suffix == ".py" and p.parent.name == NET_DIR and p.stem in nets:
        return "#code" if page == NET_PREFIX + p.stem else f"{NET_PREFIX}{p.stem}.html#code"
    if on_net and sibling:
        return href  # a network's sibling is a network, and this one has no page
    if p.suffix == ".md" and p.stem in names and p.parent.name in ("", ".", "..", "derivations"):
        return f"{p.stem}.html" + (f"#{frag}" if frag else "")
    if p.suffix == ".py" and p.parent.name == "models" and p.stem in names:
        return "#code" if p.stem == page else f"{p.stem}.html#code"
    if page.startswith((LESSON_PREFIX, LAYER_PREFIX, NET_PREFIX)) and href.startswith("../../"):
        return href[3:]  # derivations/lessons/, layers/ and nets/ are one folder deeper than book/
    return href  # book/ sits beside derivations/, so ../lab/x.py still names the same file


def _implemented(lab: str, lines: list[int]) -> str:
    if not lines:
        return ""
    links = ", ".join(f'<a class="back" href="#L{n}">{n}</a>' for n in lines)
    word = "line" if len(lines) == 1 else "lines"
    return f'<p class="impl">implemented at {word} {links} <span class="where">of the code</span></p>'


# -- the verification card ------------------------------------------------------------------


def read_report(path: Path | None) -> tuple[dict[str, dict], dict]:
    """The JSON report of ``make verify`` by model, and facts about it (when, which commit). Read defensively."""
    if path is None or not Path(path).exists():
        return {}, {}
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        return {}, {"error": f"{path.name} could not be read: {e}"}
    rows = data.get("models", data.get("reports", [])) if isinstance(data, dict) else data
    by_model = {r["model"]: r for r in rows if isinstance(r, dict) and r.get("model")}
    mtime = path.stat().st_mtime
    meta = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(mtime)), "mtime": mtime}
    commit_file = path.with_name(path.name + COMMIT_SUFFIX)
    commit = data.get("commit") if isinstance(data, dict) else None
    if not commit and commit_file.exists():
        commit = commit_file.read_text(encoding="utf-8").strip()
    if commit:
        meta["commit"] = commit
    else:
        head = _git("rev-parse", "--short=12", "HEAD")
        meta["commit"] = f"{head} (HEAD when the book was built; the report names none)" if head else "unknown"
    return by_model, meta


def _git(*args: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _share(x) -> str:
    if not isinstance(x, int | float):
        return "–"
    return f"{x:.0%}" if x <= 10 else f"{x:.1e}×"


def _count(value) -> tuple[int | None, dict[str, int]]:
    """A count of cases in the report: a number, or numbers by reason (their sum, and the reasons)."""
    if isinstance(value, bool):
        return None, {}
    if isinstance(value, int):
        return value, {}
    if isinstance(value, dict) and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
        return sum(value.values()), {str(k): v for k, v in value.items()}
    return None, {}


def report_entry(r: dict, source: str = "") -> dict:
    """What the book shows of one model's entry in the report of ``lab verify --json``.

    The one place that reads the report's field names (the verifier's vocabulary is being reworked: change
    this function, nothing else). ``source`` is the model's file, for whether it has a hand Hessian at all.
    Messages are never parsed: only fields.
    """
    status = {"pass": "pass", "fail": "fail", "error": "error"}.get(str(r.get("status")), "unknown")
    cases, _ = _count(r.get("cases"))
    inconclusive, inconclusive_why = _count(r.get("cases_inconclusive", r.get("inconclusive")))
    outside, outside_why = _count(r.get("cases_outside_domain"))
    skipped, skipped_why = _count(r.get("cases_skipped"))
    if outside is None or (skipped and not outside):
        outside = skipped
    inexact, _ = _count(r.get("cases_inexact"))
    counter = r.get("counterexample") if isinstance(r.get("counterexample"), dict) else {}
    hessian = r.get("hessian")  # a status of its own, once the report has one
    if not isinstance(hessian, str):
        has = re.search(r"^def hessian\(", source, re.M) is not None
        kinks = re.search(r"^KINK_ORDER\s*=", source, re.M) is not None
        where = str(counter.get("where") or "")
        if re.search(r"""^KIND\s*=\s*["']layer["']""", source, re.M):
            hessian = "none: a layer is checked through its vjp"
        elif re.search(r"""^KIND\s*=\s*["']net["']""", source, re.M):
            hessian = "none: a network is checked through its backward"
        elif not has:
            hessian = "none: this model has no hand Hessian"
        elif status == "pass":
            hessian = "checked against jax.hessian" + (", off the kinks" if kinks else "")
        elif status == "fail" and where.startswith("H["):
            hessian = f"wrong at {where}"
        else:
            hessian = "not judged: the run stopped before it"
    number = lambda k: r.get(k) if isinstance(r.get(k), int | float) and not isinstance(r.get(k), bool) else None  # noqa: E731
    return {
        "status": status,
        "raw_status": str(r.get("status", "?")),
        "cases": cases,
        "inconclusive": inconclusive,
        "inconclusive_why": inconclusive_why,
        "outside": outside,
        "outside_why": skipped_why or outside_why,
        "inexact": inexact,
        "max_error": number("max_error"),
        "of_tolerance": number("max_error_over_tolerance"),
        "derivation": str(r.get("derivation") or "–"),
        "hessian": hessian,
        "commit": r.get("commit"),
        "notes": [str(r[k]) for k in ("message", "diagnosis") if r.get(k)],
    }


def verdict(e: dict) -> tuple[str, str, str]:
    """(word, css class, one sentence) of a report entry read by :func:`report_entry`. A pass where most cases
    were inconclusive is not called verified: those cases could not have caught a wrong gradient."""
    if e["status"] == "pass":
        cases, inc = e["cases"] or 0, e["inconclusive"] or 0
        if inc > cases:
            return ("mostly inconclusive", "warn",
                    f"No case disagreed, but {inc} of {cases + inc} cases were inconclusive: they could not have "
                    "caught a wrong gradient, so this is not a verification.")  # fmt: skip
        return "verified", "ok", f"Every one of the {cases} conclusive cases agreed with every witness."
    if e["status"] == "fail":
        return "FAIL", "bad", "A case disagreed: the gradient, the Hessian or the derivation is wrong."
    if e["status"] == "error":
        return "ERROR", "bad", "The model could not be verified (it did not import, or its loss could not be traced)."
    return e["raw_status"], "bad", "The report names a status the book does not know."


LEGEND = (
    ("cases", "conclusive cases: points (shape, data, parameters, hyperparameters) where the hand gradient was "
     "compared with autodiff and finite differences, and the comparison could tell right from wrong"),
    ("outside the domain", "points skipped because the loss itself is not finite there (e^z past 709, say); "
     "they prove nothing and are not in <em>cases</em>"),
    ("inconclusive", "points where no reference could tell right from wrong: every entry of autodiff is within its "
     "error bound of 0, so even a gradient off by a factor 2 would agree, or its bound is not finite and the "
     "exact referee was not asked or could not settle it; counted, never passed"),
    ("inexact", "cases where the formula is right but the hand code's order of operations loses digits: run again "
     "in extended precision, the difference shrank with the rounding"),
    ("worst error", "the largest |hand − autodiff| over the gradient, relative to its largest entry"),
    ("of tolerance", "that error as a share of its tolerance, a bound on the rounding of the autodiff program "
     "computed for each case; a case passes up to 100%"),
    ("Hessian", "whether the hand Hessian was compared with jax.hessian (a model may have none)"),
    ("derivation", "whether the derivation's Python blocks ran and every equation the code cites exists"),
)  # fmt: skip


def card(name: str, report: dict[str, dict], meta: dict, source_mtime: float = 0.0, source: str = "",
         what: str = "model") -> str:  # fmt: skip
    """The latest result of model (or layer) ``name`` from ``make verify``, or how to get one; folds to one line
    on a phone."""
    how = (
        "Run <code>make verify</code>: it checks every model and writes the report the book reads; "
        "then <code>make book</code>."
    )
    head = '<details class="card {cls}" id="verification" open data-fold><summary><h2>Verification</h2>{line}</summary>'
    if meta.get("error") or report.get(name) is None:
        said = (
            html.escape(meta["error"]) + "."
            if meta.get("error")
            else "No verification report yet."
            if not report
            else f"The last report has no entry for {name}."
        )
        return head.format(cls="none", line=' <span class="sum">not run</span>') + f"<p>{said} {how}</p></details>"
    e = report_entry(report[name], source)
    word, cls, sentence = verdict(e)
    share = _share(e["of_tolerance"])
    cases = e["cases"] if e["cases"] is not None else "–"
    line = f' <strong class="status {cls}">{html.escape(word)}</strong>'
    line += f' <span class="sum">· {cases} cases · {share} of tolerance</span>'

    def why(n, reasons):
        if n is None:
            return "–"
        text = html.escape("; ".join(f"{k} {r}" for r, k in reasons.items()))
        return f'<span title="{text}">{n}</span>' if reasons else str(n)

    rows = [
        ("cases", html.escape(str(cases))),
        ("outside the domain", why(e["outside"], e["outside_why"])),
        ("inconclusive", why(e["inconclusive"], e["inconclusive_why"])),
        ("inexact", why(e["inexact"], {})),
        ("worst error", f"{e['max_error']:.1e}" if e["max_error"] is not None else "–"),
        ("of tolerance", share),
        ("Hessian", html.escape(e["hessian"])),
        ("derivation", html.escape(e["derivation"])),
        ("commit", f"<code>{html.escape(str(e['commit'] or meta.get('commit', 'unknown')))}</code>"),
        ("run", html.escape(str(meta.get("when", "–")))),
    ]
    dl = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in rows)
    notes = [f"<p class='verdict'>{html.escape(sentence)}</p>"]
    reasons = [f"{n} {r}" for r, n in (e["inconclusive_why"] | e["outside_why"]).items()]
    if reasons:
        notes.append(f"<p class='reasons'>Not counted in <em>cases</em>: {html.escape('; '.join(reasons))}.</p>")
    if e["status"] != "pass":
        notes += [f"<p class='msg'>{html.escape(n)}</p>" for n in e["notes"]]
    if source_mtime and meta.get("mtime") and source_mtime > meta["mtime"]:
        notes.append(
            f"<p class='stale'>The {what} or its derivation changed after this run: <code>make verify</code> again.</p>"
        )
    legend = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in LEGEND)
    return (
        head.format(cls=cls, line=line)
        + f'<p class="by">by <code>make verify</code></p><dl class="facts">{dl}</dl>{"".join(notes)}'
        + f'<details class="legend"><summary>What these mean</summary><dl>{legend}</dl></details></details>'
    )


# -- pages ------------------------------------------------------------------------------------


def _head(title: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        f"<title>{html.escape(title)}</title>\n"
        '<link rel="stylesheet" href="assets/katex/katex.min.css">\n'
        '<link rel="stylesheet" href="assets/code.css">\n'
        '<link rel="stylesheet" href="assets/book.css">\n'
        '<script src="assets/book.js" defer></script>\n</head>\n'
    )


@dataclass
class Nav:
    """The course and the title of each of its steps, for every page's navigation."""

    course: Course
    titles: dict[str, str]  # step key -> title

    def title(self, step: Step) -> str:
        return self.titles.get(step.key, step.name.replace("_", " "))


def _course_nav(nav: Nav, step: Step) -> str:
    """One line: the previous step, where this one sits (it opens the whole course), the next step."""
    prev, nxt = nav.course.neighbours(step)
    part = nav.course.parts[step.part]
    total = len(nav.course.steps)
    parts = []
    for i, pt in enumerate(nav.course.parts):
        steps = "".join(
            f'<li><a href="{s.page}"{" aria-current=page" if s is step else ""}><span class="num">{s.number}</span>'
            f'{html.escape(nav.title(s))}</a> <span class="kind">{SAID[s.kind]}</span></li>'
            for s in pt.steps
        )
        parts.append(f'<li><span class="pt">Part {i + 1}. {html.escape(pt.title)}</span><ol>{steps}</ol></li>')

    def arrow(s: Step | None, rel: str) -> str:
        if s is None:
            word = "start of the course" if rel == "prev" else "end of the course"
            return f'<a class="{rel} edge" href="index.html">{word}</a>'
        label = ("← " if rel == "prev" else "") + html.escape(nav.title(s)) + (" →" if rel == "next" else "")
        return f'<a class="{rel}" rel="{rel}" href="{s.page}" title="step {s.number}">{label}</a>'

    return (
        f'<nav class="course" aria-label="course">{arrow(prev, "prev")}<details class="syllabus">'
        f"<summary>Step {step.number} of {total} · Part {step.part + 1}: {html.escape(part.title)}</summary>"
        f'<ol class="parts">{"".join(parts)}</ol><p><a href="index.html">The syllabus: what each step teaches</a></p>'
        f"</details>{arrow(nxt, 'next')}</nav>\n"
    )


def _pager(nav: Nav, step: Step) -> str:
    """Previous and next at the end of the page, where a reader finishes it."""
    prev, nxt = nav.course.neighbours(step)

    def one(s: Step | None, rel: str) -> str:
        if s is None:
            return f'<a class="{rel} edge" href="index.html"><small>{"start" if rel == "prev" else "end"} of the ' \
                   "course</small><span>the syllabus</span></a>"  # fmt: skip
        word = "← previous" if rel == "prev" else "next →"
        return (f'<a class="{rel}" rel="{rel}" href="{s.page}"><small>{word}: step {s.number}, {SAID[s.kind]}</small>'
                f"<span>{html.escape(nav.title(s))}</span></a>")  # fmt: skip

    return f'<nav class="pager" aria-label="previous and next step">{one(prev, "prev")}{one(nxt, "next")}</nav>\n'


HEADING = re.compile(r'<h([23]) id="([^"]+)">(.*?)</h\1>', re.S)


def _toc(body: str, before: list[tuple[str, str]] = (), after: list[tuple[str, str]] = ()) -> str:
    """The page's table of contents: its sections (h2, and h3 under them), and the card, figure and code."""
    items = [(2, a, html.escape(t)) for a, t in before]
    items += [(int(level), anchor, inner) for level, anchor, inner in HEADING.findall(body)]
    items += [(2, a, html.escape(t)) for a, t in after]
    lis = "".join(f'<li class="l{level}"><a href="#{a}">{inner}</a></li>' for level, a, inner in items)
    return (f'<nav class="toc" aria-label="on this page"><details open data-fold><summary>On this page</summary>'
            f"<ol>{lis}</ol></details></nav>\n")  # fmt: skip


NOTEBOOKS = "notebooks"  # book/notebooks/NAME.ipynb, written by lab.notebook when a page is built
NOTEBOOK_KINDS = ("model", "net")  # the pages (besides the lessons) that have a notebook


def _notebook_link(file: str, name: str | None = None) -> str:
    """The link to book/notebooks/FILE.ipynb, made by ``lab notebook NAME`` (NAME: FILE unless said)."""
    return (f'<a class="notebook" href="{NOTEBOOKS}/{file}.ipynb" download title="a runnable Jupyter notebook of '
            f'this page (lab notebook {name or file})">notebook ↓</a>')  # fmt: skip


def _write_notebook(out: Path, file: str, derivations: Path, name: str | None = None) -> None:
    """book/notebooks/FILE.ipynb of ``lab notebook NAME`` (NAME: FILE unless said), for the lab's own
    derivations: a build from other sources (the tests' copies) writes none, and its pages' notebook links
    lead nowhere."""
    if derivations.resolve() != DERIVATIONS.resolve():
        return
    from lab.notebook import write

    write(name or file, out / NOTEBOOKS / f"{file}.ipynb")


def _docline(source: str) -> str:
    m = re.match(r'\s*(?:"""|\'\'\')\s*(.+)', source)
    return m.group(1).strip() if m else ""


@dataclass
class Page:
    name: str  # the page's file stem: NAME for a model, layer-NAME for a layer, net-NAME for a network
    md_path: Path
    py_path: Path
    md_rel: str
    py_rel: str
    text: str
    source: str
    card: str
    figure_key: str
    deriv: Derivation | None = None
    code: Code | None = None
    kind: str = "model"  # or "layer", "net"
    key: str = ""  # its name in the course and the report: NAME, layers/NAME or nets/NAME

    def __post_init__(self):
        self.key = self.key or self.name


def _page_html(p: Page, nav: Nav, figure_html: str) -> str:
    """A model's, a layer's or a network's page: the derivation beside the whole file. A layer has no figure or
    notebook; a network's figure is its training run."""
    body = p.deriv.html
    for lab in p.deriv.tags:
        body = body.replace(f"@@IMPL:{lab}@@", _implemented(lab, p.code.cites.get(lab, [])))
    body = MATH_RE.sub(lambda m: p.deriv.math[int(m.group(1))].html, body)
    step = nav.course.find(p.kind, p.key.rpartition("/")[2])
    trained = p.kind in ("model", "net")
    file = {"model": "The model file", "layer": "The layer file", "net": "The network file"}[p.kind]
    after = [("trained", "Trained"), ("code", file)] if trained else [("code", file)]
    css = {"model": "", "layer": " layer-page", "net": " net-page"}[p.kind]
    return (
        _head(f"{p.key} · {SITE}")
        + f'<body class="model-page{css}">\n<header class="top"><a class="home" '
        + f'href="index.html">{SITE}</a><span class="sep">/</span><h1>{html.escape(p.key)}</h1>'
        + (_notebook_link(p.name, p.key) if p.kind in NOTEBOOK_KINDS else "")
        + '<a class="jump" href="#code">code ↓</a></header>\n'
        + _course_nav(nav, step)
        + '<main class="split">\n<article class="pane derivation" id="derivation">\n'
        + p.card
        + _toc(body, [("verification", "Verification")], after)
        + f'\n<div class="md">{body}</div>\n'
        + figure_html
        + _pager(nav, step)
        + '</article>\n<section class="pane code" id="code" aria-label="the code">\n'
        + f'<h2 class="file"><a href="../{html.escape(p.py_rel)}">{html.escape(p.py_rel)}</a>'
        + f'<span class="meta">{p.source.count(chr(10))} lines · its equations link left</span></h2>\n'
        + p.code.html
        + "\n</section>\n</main>\n</body>\n</html>\n"
    )


def _figure_html(name: str, fig: dict) -> str:
    if fig.get("file"):
        samples = fig.get("samples") or []
        listed = (
            f'<p class="samples">{len(samples)} names sampled from the trained network, one symbol at a time:</p>'
            '<ol class="samples">' + "".join(f"<li><code>{html.escape(s or '(empty)')}</code></li>" for s in samples)
            + "</ol>"
            if samples
            else ""
        )  # fmt: skip
        return (
            f'<section class="trained" id="trained"><h2>Trained</h2><figure><a href="figures/{fig["file"]}">'
            f'<img src="figures/{fig["file"]}" alt="{html.escape(fig["caption"])}" loading="lazy"></a>'
            f"<figcaption>{html.escape(fig['caption'])} Drawn by <code>lab.plots</code> when the book was built."
            f"</figcaption></figure>{listed}</section>\n"
        )
    why = html.escape(fig["caption"])
    return f'<section class="trained" id="trained"><h2>Trained</h2><p class="nofig">{why}</p></section>\n'


def _readme_figures(readme: Path | None) -> list[tuple[Path, str]]:
    """The images the README and the docs beside it (docs/*.md) show, with their alt text, in order, once each."""
    if readme is None or not readme.exists():
        return []
    out, seen = [], set()
    for md in [readme, *sorted((readme.parent / "docs").glob("*.md"))]:
        for tok in _markdown().parse(md.read_text(encoding="utf-8")):
            for c in tok.children or ():
                if c.type == "image" and not re.match(r"^[a-z]+:", c.attrGet("src") or ""):
                    src = (md.parent / c.attrGet("src")).resolve()
                    if src.exists() and src.name not in seen:
                        seen.add(src.name)
                        out.append((src, "".join(x.content for x in c.children or ()) or src.stem))
    return out


def _index_html(nav: Nav, teaches: dict[str, str], report: dict, meta: dict, figs: list[tuple[str, str]],
                sources: dict[str, str]) -> str:  # fmt: skip
    """The index is the syllabus: the course's parts in order, each step with what it teaches."""
    parts = []
    for i, pt in enumerate(nav.course.parts):
        steps = []
        for s in pt.steps:
            if s.kind == "model":
                r = report.get(s.name)
                word, cls, _ = verdict(report_entry(r, sources.get(s.name, ""))) if r else ("not run", "none", "")
                status = f' <span class="status {cls}">{html.escape(word)}</span>'
                links = (f'<a href="{s.page}#derivation">derivation</a> · <a href="{s.page}#code">code</a> · '
                         f'<a href="{s.page}#trained">trained</a>')  # fmt: skip
                what = f"model <code>{s.name}</code>"
            elif s.kind in ("layer", "net"):
                r = report.get(s.key)
                word, cls, _ = verdict(report_entry(r, sources.get(s.key, ""))) if r else ("not run", "none", "")
                status = f' <span class="status {cls}">{html.escape(word)}</span>'
                links = f'<a href="{s.page}#derivation">derivation</a> · <a href="{s.page}#code">code</a>'
                if s.kind == "net":
                    links += f' · <a href="{s.page}#trained">trained</a>'
                what = f"{SAID[s.kind]} <code>{s.key}</code>"
            else:
                status, links, what = "", "", f"lesson <code>{s.name}</code>"
            steps.append(
                f'<li class="step {s.kind}" id="step-{s.number}"><span class="num">{s.number}</span><div>'
                f'<a href="{s.page}"><strong>{html.escape(nav.title(s))}</strong></a> '
                f'<span class="kind">{what}</span>{status}<div class="teaches">{teaches.get(s.key, "")}</div>'
                + (f'<div class="links">{links}</div>' if links else "")
                + "</div></li>"
            )
        about = f'<p class="about">{html.escape(pt.about)}</p>' if pt.about else ""
        parts.append(
            f'<section class="part" id="part-{i + 1}"><h2>Part {i + 1}. {html.escape(pt.title)}</h2>{about}'
            f'<ol class="steps">{"".join(steps)}</ol></section>\n'
        )
    when = (
        f"Status from <code>make verify</code> on commit <code>{html.escape(meta['commit'])}</code>, {meta['when']}."
        if meta.get("commit") and report
        else "No verification report yet: run <code>make verify</code>, then <code>make book</code>."
    )
    gallery = "".join(
        f'<figure><a href="figures/{f}"><img src="figures/{f}" alt="{html.escape(alt)}" loading="lazy"></a>'
        f"<figcaption>{html.escape(alt)}</figcaption></figure>"
        for f, alt in figs
    )
    first = nav.course.steps[0] if nav.course.steps else None
    start = (
        f'<p class="start"><a href="{first.page}">Start with step 1: {html.escape(nav.title(first))} →</a></p>\n'
        if first
        else ""
    )

    return (
        _head(f"{SITE}: the study book")
        + '<body class="index-page">\n<header class="top"><a class="home" href="index.html">'
        + f'{SITE}</a><span class="sep">/</span><h1>the study book</h1></header>\n<main class="index">\n'
        + "<p>A course in the mathematics of training, read in this order: one feature, many features, "
        + "classification, then the rest, the layers of a network, and networks. A model's, a layer's or a network's "
        + "page puts "
        + "its derivation beside its code: every "
        + "<em>(eq. N)</em> in the code links to equation N, and every equation the code cites lists the lines that "
        + "implement it. A lesson's page runs across the models. Every page links the step before and after it. "
        + "The math is typeset when the book is built, so the pages work offline.</p>\n"
        + start
        + f'<p class="when">{when}</p>\n<div class="syllabus">\n'
        + "".join(parts)
        + "</div>\n"
        + (f'<h2 id="figures">Figures</h2>\n<div class="gallery">{gallery}</div>\n' if gallery else "")
        + "</main>\n</body>\n</html>\n"
    )


# -- the lessons ----------------------------------------------------------------------------------


def _lesson_title(text: str, stem: str) -> str:
    m = re.search(r"^#\s+(.+)$", text, re.M)
    return m.group(1).strip() if m else stem.replace("_", " ")


def _lesson_summary(text: str) -> str:
    """The first sentence of the lesson's first paragraph, as plain text."""
    body = re.sub(r"^#.*$", "", text, count=1, flags=re.M).strip().split("\n\n")[0]
    plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", " ".join(body.split())).replace("`", "")
    m = re.match(r"(.+?[.:])(\s|$)", plain)
    return m.group(1) if m else plain


def _lesson_html(stem: str, title: str, deriv: Derivation, nav: Nav) -> str:
    body = deriv.html
    for lab in deriv.tags:
        body = body.replace(f"@@IMPL:{lab}@@", "")
    body = MATH_RE.sub(lambda m: deriv.math[int(m.group(1))].html, body)
    step = nav.course.find("lesson", stem)
    return (
        _head(f"{title} · {SITE}")
        + '<body class="lesson-page">\n<header class="top"><a class="home" href="index.html">'
        + f'{SITE}</a><span class="sep">/</span><h1>{html.escape(title)}</h1>{_notebook_link(stem)}</header>\n'
        + _course_nav(nav, step)
        + '<main class="index lesson">\n<article class="derivation" id="derivation">\n'
        + _toc(body)
        + f'<div class="md">{body}</div>\n'
        + _pager(nav, step)
        + "</article>\n</main>\n</body>\n</html>\n"
    )


def _lab_sources_hash() -> str:
    """What a lesson's blocks may call: every file of the lab package."""
    lab = ROOT / "lab"
    return _sha(*(p.relative_to(lab).as_posix().encode() + p.read_bytes() for p in sorted(lab.rglob("*.py"))))


def _build_lessons(out: Path, derivations: Path, manifest: dict, builder: str, all_names: list[str], figures: bool,
                   force: bool, result: BuildResult, nav: Nav, nav_key: str,
                   layers: list[str] = (), nets: list[str] = ()) -> list[tuple[str, str, str]]:  # fmt: skip
    """Write lesson-NAME.html for each derivations/lessons/NAME.md, running its blocks to draw its figures into
    out/figures/ when ``figures``; return (stem, title, summary) for the index."""
    from lab.derivations import run_lesson

    paths = sorted(p for p in (derivations / LESSONS).glob("*.md") if not p.stem.startswith("_"))
    stems = [p.stem for p in paths]
    listed, todo = [], []
    code_key = _lab_sources_hash() if paths and figures else ""
    for p in paths:
        text = p.read_text(encoding="utf-8")
        listed.append((p.stem, _lesson_title(text, p.stem), _lesson_summary(text)))
        key = _sha(builder, text, code_key, figures, nav_key)
        page = out / f"{LESSON_PREFIX}{p.stem}.html"
        if force or manifest["lessons"].get(p.stem) != key or not page.exists():
            todo.append((p, text, key))
    problems: list[str] = []
    rendered = []
    for p, text, key in todo:
        rel = _rel(p)
        if figures:
            failed = run_lesson(p, out / "figures")
            if failed:
                problems.append(f"{rel}: {failed}")
                continue
        deriv = derivation_pane(text, rel, set(all_names), LESSON_PREFIX + p.stem, {}, set(stems), set(layers),
                                set(nets))  # fmt: skip
        problems += deriv.problems
        rendered.append((p, text, key, deriv))
    items = [m for *_, deriv in rendered for m in deriv.math]
    for m, (h, err) in zip(items, typeset([(m.tex, m.display) for m in items]), strict=True):
        if err is not None:
            problems.append(f"{m.file}:{m.line}: {err}")
        m.html = h or ""
    if problems:
        for p, *_ in todo:
            manifest["lessons"].pop(p.stem, None)
        raise BuildError(problems)
    for p, text, key, deriv in rendered:
        page = _lesson_html(p.stem, _lesson_title(text, p.stem), deriv, nav)
        if "katex-error" in page:
            raise BuildError([f"{_rel(p)}:1: the page would contain 'katex-error'"])
        manifest["lessons"][p.stem] = None  # this builder's page from now on, rebuilt next time unless it completes
        (out / f"{LESSON_PREFIX}{p.stem}.html").write_text(page, encoding="utf-8")
        _write_notebook(out, p.stem, derivations)
        manifest["lessons"][p.stem] = key
        result.built.append(LESSON_PREFIX + p.stem)
    for stem in stems:
        if not (out / NOTEBOOKS / f"{stem}.ipynb").exists():
            _write_notebook(out, stem, derivations)
    for stale in sorted(set(manifest["lessons"]) - set(stems)):
        _remove_page(out, LESSON_PREFIX + stale, stale)
        manifest["lessons"].pop(stale)
        result.removed.append(LESSON_PREFIX + stale)
    return listed


def _remove_page(out: Path, page: str, notebook: str) -> None:
    """Delete what this builder wrote for a page whose sources are gone: its HTML, its notebook and its trained
    figure (a lesson's figures are named by its blocks, and stay)."""
    for f in (out / f"{page}.html", out / NOTEBOOKS / f"{notebook}.ipynb", out / "figures" / f"{page}-trained.png"):
        f.unlink(missing_ok=True)


# -- the build ------------------------------------------------------------------------------------


def _sha(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def _builder_hash() -> str:
    files = sorted(p for p in HERE.iterdir() if p.suffix in (".py", ".css", ".js", ".cjs") or p.name == LOCK.name)
    return _sha(*(p.name.encode() + p.read_bytes() for p in files))


def _figure_inputs(py_text: str, network: bool = False) -> str:
    """What a model's trained figure depends on: its file, the plots, the optimizers (every file of the package
    lab/optim/), the data, the model contract and the figure code. A path that is gone fails loudly here, so a
    file moving into a package can never again leave the figure cache blind to its edits. A network's run
    (``network``) also depends on the composition (lab/net.py), every network file (lab/nets/) and every layer
    (lab/layers/), whose forward and vjp it runs."""
    lab = ROOT / "lab"
    deps = [lab / "plots.py", *sorted((lab / "optim").rglob("*.py")), lab / "data.py", lab / "model.py",
            HERE / "figures.py"]  # fmt: skip
    if network:
        deps += [lab / "net.py", *sorted((lab / "nets").glob("*.py")), *sorted((lab / "layers").glob("*.py"))]
    return _sha(py_text, *(p.name.encode() + p.read_bytes() for p in deps))


def _rel(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return path.as_posix()


def _write_assets(out: Path) -> None:
    assets = out / "assets"
    (assets / "katex").mkdir(parents=True, exist_ok=True)
    dist = ensure_katex() / "dist"
    shutil.copy2(dist / "katex.min.css", assets / "katex" / "katex.min.css")
    shutil.copytree(dist / "fonts", assets / "katex" / "fonts", dirs_exist_ok=True)
    shutil.copy2(HERE / "book.css", assets / "book.css")
    shutil.copy2(HERE / "book.js", assets / "book.js")
    light, dark = (HtmlFormatter(style=s) for s in CODE_STYLES)
    css = (
        "/* Pygments: light, and dark under prefers-color-scheme. */\n"
        + light.get_style_defs(".src")
        + "\n@media (prefers-color-scheme: dark) {\n"
        + dark.get_style_defs(".src")
        + "\n}\n"
    )
    (assets / "code.css").write_text(css, encoding="utf-8")


def build(
    out: Path = OUT,
    *,
    derivations: Path = DERIVATIONS,
    models: Path = MODELS,
    layers: Path | None = None,
    nets: Path | None = None,
    report: Path | None = REPORT,
    readme: Path | None = README,
    names: list[str] | None = None,
    figures: bool = True,
    force: bool = False,
) -> BuildResult:
    """Build (or bring up to date) the book in ``out``; raise BuildError listing every ``file:line`` problem.

    ``layers``: the folder of layer files (each with ``derivations/layers/NAME.md``); None is the lab's own
    ``lab/layers`` when ``derivations`` is the lab's own, else no layers. ``nets``: the folder of network files
    (each with ``derivations/nets/NAME.md``), the same way. ``names`` may name layers/NAME and nets/NAME.
    """
    t0 = time.perf_counter()
    out, derivations, models = Path(out), Path(derivations), Path(models)
    result = BuildResult(out)
    all_names = sorted(p.stem for p in models.glob("*.py") if not p.stem.startswith("_"))
    if layers is None and derivations.resolve() == DERIVATIONS.resolve():
        layers = LAYERS
    if nets is None and derivations.resolve() == DERIVATIONS.resolve():
        nets = NETS
    layer_names = sorted(p.stem for p in Path(layers).glob("*.py") if not p.stem.startswith("_")) if layers else []
    net_names = sorted(p.stem for p in Path(nets).glob("*.py") if not p.stem.startswith("_")) if nets else []
    lay, net = f"{LAYER_DIR}/", f"{NET_DIR}/"
    wanted = all_names if names is None else [n for n in names if not n.startswith((lay, net))]
    wanted_layers = layer_names if names is None else [n.removeprefix(lay) for n in names if n.startswith(lay)]
    wanted_nets = net_names if names is None else [n.removeprefix(net) for n in names if n.startswith(net)]
    problems = [f"{_rel(models)}/{n}.py: no such model" for n in wanted if n not in all_names]
    problems += [
        f"{_rel(derivations / (n + '.md'))}:1: missing: model {n} has no derivation"
        for n in wanted
        if n in all_names and not (derivations / f"{n}.md").exists()
    ]
    problems += [f"{_rel(Path(layers or LAYERS))}/{n}.py: no such layer" for n in wanted_layers
                 if n not in layer_names]  # fmt: skip
    problems += [
        f"{_rel(derivations / LAYER_DIR / (n + '.md'))}:1: missing: layer {n} has no derivation"
        for n in wanted_layers
        if n in layer_names and not (derivations / LAYER_DIR / f"{n}.md").exists()
    ]
    problems += [f"{_rel(Path(nets or NETS))}/{n}.py: no such network" for n in wanted_nets if n not in net_names]
    problems += [
        f"{_rel(derivations / NET_DIR / (n + '.md'))}:1: missing: network {n} has no derivation"
        for n in wanted_nets
        if n in net_names and not (derivations / NET_DIR / f"{n}.md").exists()
    ]
    if problems:
        raise BuildError(problems)

    out.mkdir(parents=True, exist_ok=True)
    man_path = out / MANIFEST
    try:
        manifest = json.loads(man_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    builder = _sha(_builder_hash(), katex_version(), figures)
    if force or manifest.get("builder") != builder:
        figs = {} if force else manifest.get("figures", {})  # a figure has a key of its own: kept if it still holds
        # every page is built again, but the names of the pages written before are kept, so that a page whose
        # sources are gone is still known as this builder's and removed
        manifest = {"builder": builder, "pages": dict.fromkeys(manifest.get("pages", {})), "figures": figs,
                    "index": None, "lessons": dict.fromkeys(manifest.get("lessons", {}))}  # fmt: skip
        _write_assets(out)
    elif not (out / "assets" / "katex" / "katex.min.css").exists():
        _write_assets(out)

    manifest.setdefault("lessons", {})
    lesson_stems = {p.stem for p in (derivations / LESSONS).glob("*.md") if not p.stem.startswith("_")}
    course = load_course(derivations, all_names, sorted(lesson_stems), _rel(derivations / COURSE_FILE), layer_names,
                         net_names)  # fmt: skip
    if course.problems:
        raise BuildError(course.problems)
    titles = {}
    folder = {"model": "", "lesson": f"{LESSONS}/", "layer": f"{LAYER_DIR}/", "net": f"{NET_DIR}/"}
    for s in course.steps:
        src = derivations / f"{folder[s.kind]}{s.name}.md"
        titles[s.key] = _lesson_title(src.read_text(encoding="utf-8"), s.name) if src.exists() else s.name
    nav = Nav(course, titles)
    nav_key = json.dumps([[pt.title, [(s.key, titles[s.key]) for s in pt.steps]] for pt in course.parts])
    rep, meta = read_report(report)
    pages: list[Page] = []
    for n in wanted:
        md_path, py_path = derivations / f"{n}.md", models / f"{n}.py"
        text, source = md_path.read_text(encoding="utf-8"), py_path.read_text(encoding="utf-8")
        newest = max(md_path.stat().st_mtime, py_path.stat().st_mtime)
        pages.append(
            Page(
                n,
                md_path,
                py_path,
                _rel(md_path),
                _rel(py_path),
                text,
                source,
                card(n, rep, meta, newest, source),
                _figure_inputs(source) if figures else "off",
            )  # fmt: skip
        )

    for n in wanted_layers:
        md_path, py_path = derivations / LAYER_DIR / f"{n}.md", Path(layers) / f"{n}.py"
        text, source = md_path.read_text(encoding="utf-8"), py_path.read_text(encoding="utf-8")
        newest = max(md_path.stat().st_mtime, py_path.stat().st_mtime)
        pages.append(
            Page(
                LAYER_PREFIX + n,
                md_path,
                py_path,
                _rel(md_path),
                _rel(py_path),
                text,
                source,
                card(f"{lay}{n}", rep, meta, newest, source, what="layer"),
                "none",  # a layer has no trained figure
                kind="layer",
                key=f"{lay}{n}",
            )  # fmt: skip
        )

    for n in wanted_nets:
        md_path, py_path = derivations / NET_DIR / f"{n}.md", Path(nets) / f"{n}.py"
        text, source = md_path.read_text(encoding="utf-8"), py_path.read_text(encoding="utf-8")
        newest = max(md_path.stat().st_mtime, py_path.stat().st_mtime)
        pages.append(
            Page(
                NET_PREFIX + n,
                md_path,
                py_path,
                _rel(md_path),
                _rel(py_path),
                text,
                source,
                card(f"{net}{n}", rep, meta, newest, source, what="network"),
                _figure_inputs(source, network=True) if figures else "off",
                kind="net",
                key=f"{net}{n}",
            )  # fmt: skip
        )

    def page_key(p: Page) -> str:
        return _sha(builder, p.text, p.source, p.card, p.figure_key, nav_key)

    todo = [
        p
        for p in pages
        if force or manifest["pages"].get(p.name) != page_key(p) or not (out / f"{p.name}.html").exists()
    ]

    # parse everything first, then one KaTeX batch for every page, so all errors come out together
    images: dict[str, Path] = {}
    for p in todo:
        page_images: dict[str, Path] = {}
        p.deriv = derivation_pane(p.text, p.md_rel, set(all_names), p.name, page_images, lesson_stems,
                                  set(layer_names), set(net_names))  # fmt: skip
        for fname, src in page_images.items():
            images[fname] = (p.md_path.parent / src).resolve()
        p.code = code_pane(p.source, p.py_rel, set(p.deriv.tags), p.md_rel)
        problems += p.deriv.problems + p.code.problems
    items = [m for p in todo for m in p.deriv.math]
    for m, (h, err) in zip(items, typeset([(m.tex, m.display) for m in items]), strict=True):
        if err is not None:
            pos = re.search(r"at position (\d+)", err)
            at = max(int(pos.group(1)) - 1, 0) if pos else (len(m.tex) if "end of input" in err else 0)
            line = m.line + m.tex.count("\n", 0, at)
            problems.append(f"{m.file}:{line}: {err}")
        m.html = h or ""
    if problems:
        for p in todo:
            manifest["pages"].pop(p.name, None)
        _save_manifest(man_path, manifest)
        raise BuildError(problems)

    figdir = out / "figures"
    figdir.mkdir(exist_ok=True)
    for fname, src in images.items():
        if src.exists():
            shutil.copy2(src, figdir / fname)
    try:  # whatever stops the build, the manifest keeps every page written so far
        for p in todo:
            fig = {"caption": "Figures are off for this build (figures=False)."}
            if figures and p.kind in ("model", "net"):
                cached = manifest["figures"].get(p.name)
                fresh = cached and cached.get("key") == p.figure_key
                if fresh and (not cached.get("file") or (figdir / cached["file"]).exists()):
                    fig = cached
                else:
                    from lab.book.figures import network, trained

                    draw = trained if p.kind == "model" else network
                    f = draw(p.key, figdir / f"{p.name}-trained.png")
                    fig = {"key": p.figure_key, "file": f.path.name if f.path else None, "caption": f.caption}
                    if p.kind == "net":
                        fig |= {"samples": f.samples, "data": f.data}  # the run's numbers, which the caption states
                    manifest["figures"][p.name] = fig
                    result.figures_drawn.append(p.name)
            page = _page_html(p, nav, _figure_html(p.name, fig) if p.kind in ("model", "net") else "")
            prose = re.sub(r"<(pre|code)\b.*?</\1>", "", page, flags=re.S)  # `$$` in code is code, not TeX
            bad = [w for w, where in (("katex-error", page), ("$$", prose)) if w in where]
            if bad:  # never write a page with a red KaTeX box or raw TeX delimiters
                line = _line_of(p.text, prose[prose.index("$$") :]) if "$$" in bad else 1
                raise BuildError(
                    [f"{p.md_rel}:{line}: the page would contain {' and '.join(map(repr, bad))} (unclosed $$?)"]
                )
            manifest["pages"][p.name] = None  # this builder's page from now on, rebuilt next time unless it completes
            (out / f"{p.name}.html").write_text(page, encoding="utf-8")
            if p.kind in NOTEBOOK_KINDS:
                _write_notebook(out, p.name, derivations, p.key)
            manifest["pages"][p.name] = page_key(p)
            result.built.append(p.name)
    except BaseException:
        _save_manifest(man_path, manifest)
        raise
    result.kept = [p.name for p in pages if p.name not in result.built]
    alive = set(all_names) | {LAYER_PREFIX + n for n in layer_names} | {NET_PREFIX + n for n in net_names}
    unjudged = tuple(prefix for prefix, folder in ((LAYER_PREFIX, layers), (NET_PREFIX, nets)) if not folder)
    for name in sorted(set(manifest["pages"]) - alive):
        if unjudged and name.startswith(unjudged):
            continue  # a layer's (or network's) page, and this build was given no folder of them to look in
        _remove_page(out, name, name)
        manifest["pages"].pop(name)
        manifest["figures"].pop(name, None)
        result.removed.append(name)
    for p in pages:
        if p.name in result.kept and p.kind in NOTEBOOK_KINDS and not (out / NOTEBOOKS / f"{p.name}.ipynb").exists():
            _write_notebook(out, p.name, derivations, p.key)

    try:
        lessons = _build_lessons(out, derivations, manifest, builder, all_names, figures, force, result, nav, nav_key,
                                 layer_names, net_names)  # fmt: skip
    except BaseException:
        _save_manifest(man_path, manifest)
        raise

    figs = _readme_figures(readme)
    for src, _ in figs:
        shutil.copy2(src, figdir / src.name)
    sources = {n: (models / f"{n}.py").read_text(encoding="utf-8") for n in all_names}
    sources |= {f"{lay}{n}": (Path(layers) / f"{n}.py").read_text(encoding="utf-8") for n in layer_names}
    sources |= {f"{net}{n}": (Path(nets) / f"{n}.py").read_text(encoding="utf-8") for n in net_names}
    summaries = {f"{LESSONS}/{stem}": summary for stem, _, summary in lessons}
    said = {s.key: s.teaches or (_docline(sources[s.key]) if s.kind != "lesson" else summaries.get(s.key, ""))
            for s in course.steps}  # fmt: skip
    statuses = json.dumps(
        {n: verdict(report_entry(rep[n], src))[0] if n in rep else None for n, src in sources.items()}
    )
    index_key = _sha(builder, nav_key, json.dumps(said, sort_keys=True), statuses, meta.get("commit"),
                     meta.get("when"), *(f"{s.name}:{a}" for s, a in figs))  # fmt: skip
    if force or manifest.get("index") != index_key or not (out / "index.html").exists():
        teaches = _typeset_inline(said, _rel(derivations / COURSE_FILE), set(all_names), lesson_stems, set(layer_names),
                                  set(net_names))  # fmt: skip
        page = _index_html(nav, teaches, rep, meta, [(s.name, a) for s, a in figs], sources)
        (out / "index.html").write_text(page, encoding="utf-8")
        manifest["index"] = index_key
        result.index_built = True
    _save_manifest(man_path, manifest)
    result.seconds = time.perf_counter() - t0
    return result


def _typeset_inline(texts: dict[str, str], rel: str, names: set[str], lessons: set[str],
                    layers: set[str] = frozenset(), nets: set[str] = frozenset()) -> dict[str, str]:  # fmt: skip
    """Short markdown (what a step teaches) to HTML, its $math$ typeset by KaTeX in one batch."""
    rendered = {k: derivation_pane(t, rel, names, "index", {}, lessons, layers, nets) for k, t in texts.items()}
    items = [m for d in rendered.values() for m in d.math]
    problems = []
    for m, (h, err) in zip(items, typeset([(m.tex, m.display) for m in items]), strict=True):
        if err is not None:
            problems.append(f"{rel}:1: {err} (in {m.tex!r})")
        m.html = h or ""
    if problems:
        raise BuildError(problems)
    out = {}
    for k, d in rendered.items():
        body = MATH_RE.sub(lambda m, d=d: d.math[int(m.group(1))].html, d.html).strip()
        out[k] = re.sub(r"^<p>(.*)</p>$", r"\1", body, flags=re.S)
    return out


def _line_of(text: str, rendered: str) -> int:
    """The line of ``text`` where a stretch of rendered HTML starts (its first words, tags dropped), else 1."""
    words = html.unescape(re.sub(r"<[^>]+>", "", rendered[:200])).strip()[:16]
    at = text.find(words) if words else -1
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


def _save_manifest(path: Path, manifest: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
