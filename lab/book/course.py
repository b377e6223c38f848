"""The study book as a course: one declared reading order (``derivations/course.toml``), in parts.

Every page of the book is a step of the course, so every page has a step before and after it. The order is
declared once, in ``course.toml``; a model, lesson, layer or network it does not list (one just made by
``lab new``) is appended at the end of the part that takes new pages of its kind, so nothing the lab holds is
ever left out. Without a ``course.toml`` (a book built from other sources) the course is the models, the
lessons, the layers, then the networks, in alphabetical order.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

COURSE_FILE = "course.toml"
KINDS = {"model": "", "lesson": "lessons/", "layer": "layers/", "net": "nets/"}  # a step's kind, its prefix
PAGE_PREFIX = {"model": "", "lesson": "lesson-", "layer": "layer-", "net": "net-"}  # nets/NAME -> net-NAME.html
MISSING = {"model": "lab/models/{}.py", "lesson": "derivations/lessons/{}.md", "layer": "lab/layers/{}.py",
           "net": "lab/nets/{}.py"}  # fmt: skip
#: How a page names its kind to a reader (the course list, the pager).
SAID = {"model": "model", "lesson": "lesson", "layer": "layer", "net": "network"}


@dataclass
class Step:
    kind: str  # "model", "lesson", "layer" or "net"
    name: str  # the file's stem
    part: int = 0  # the index of its part
    number: int = 0  # 1-based, across the whole course
    teaches: str = ""  # markdown, from course.toml; empty: the builder uses the docstring or first sentence
    listed: bool = True  # False: not in course.toml, appended to its part

    @property
    def key(self) -> str:
        return KINDS[self.kind] + self.name

    @property
    def page(self) -> str:
        return f"{PAGE_PREFIX[self.kind]}{self.name}.html"


@dataclass
class Part:
    title: str
    about: str = ""
    steps: list[Step] = field(default_factory=list)
    new: tuple[str, ...] = ()


@dataclass
class Course:
    parts: list[Part]
    problems: list[str] = field(default_factory=list)  # "file:line: message", for the build to report

    @property
    def steps(self) -> list[Step]:
        return [s for p in self.parts for s in p.steps]

    def find(self, kind: str, name: str) -> Step | None:
        return next((s for s in self.steps if s.kind == kind and s.name == name), None)

    def neighbours(self, step: Step) -> tuple[Step | None, Step | None]:
        steps = self.steps
        i = next(i for i, s in enumerate(steps) if s is step)
        return (steps[i - 1] if i > 0 else None), (steps[i + 1] if i + 1 < len(steps) else None)


def _line_of(text: str, needle: str) -> int:
    at = text.find(f'"{needle}"')
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


def _kind_of(key: str) -> tuple[str, str]:
    """A step of course.toml as (kind, name): NAME, lessons/NAME, layers/NAME or nets/NAME."""
    for kind, prefix in KINDS.items():
        if prefix and key.startswith(prefix):
            return kind, key.removeprefix(prefix)
    return "model", key


def load(derivations: Path, models: list[str], lessons: list[str], rel: str | None = None,
         layers: list[str] = (), nets: list[str] = ()) -> Course:  # fmt: skip
    """The course over exactly these models, lessons, layers and networks: the declared order, then what it
    does not list."""
    path = Path(derivations) / COURSE_FILE
    rel = rel or path.as_posix()
    have = {("model", n) for n in models} | {("lesson", n) for n in lessons} | {("layer", n) for n in layers}
    have |= {("net", n) for n in nets}
    problems: list[str] = []
    if path.exists():
        text = path.read_text(encoding="utf-8")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            return Course(_default(models, lessons, layers, nets), [f"{rel}:1: not valid TOML: {e}"])
        parts = []
        seen: dict[tuple[str, str], str] = {}
        for i, raw in enumerate(data.get("part", [])):
            title = str(raw.get("title") or f"Part {i + 1}")
            teaches = raw.get("teaches", {})
            part = Part(title, str(raw.get("about", "")), new=tuple(raw.get("new", ())))
            for kind in part.new:
                if kind not in KINDS:
                    problems.append(f"{rel}:{_line_of(text, kind)}: new = {kind!r}: a kind is one of {sorted(KINDS)}")
            for key in raw.get("steps", []):
                kind, name = _kind_of(key)
                if "/" in name:
                    problems.append(f"{rel}:{_line_of(text, key)}: {key}: a step is NAME (a model), lessons/NAME, "
                                    "layers/NAME or nets/NAME")  # fmt: skip
                elif (kind, name) not in have:
                    problems.append(f"{rel}:{_line_of(text, key)}: {key}: there is no {MISSING[kind].format(name)}")
                elif (kind, name) in seen:
                    problems.append(f"{rel}:{_line_of(text, key)}: {key} is listed twice (first in {seen[kind, name]})")
                else:
                    seen[kind, name] = title
                    part.steps.append(Step(kind, name, i, teaches=str(teaches.get(key, ""))))
            parts.append(part)
        if not parts:
            problems.append(f"{rel}:1: no [[part]]: the course needs at least one")
            parts = _default(models, lessons, layers, nets)
    else:
        parts = _default(models, lessons, layers, nets)
    listed = {(s.kind, s.name) for p in parts for s in p.steps}
    for kind, names in (("model", models), ("lesson", lessons), ("layer", layers), ("net", nets)):
        home = next((i for i, p in enumerate(parts) if kind in p.new), len(parts) - 1)
        for n in sorted(names):
            if (kind, n) not in listed:
                parts[home].steps.append(Step(kind, n, home, listed=False))
    parts = [p for p in parts if p.steps]  # a part whose steps are all gone is not shown
    number = 0
    for i, p in enumerate(parts):
        for s in p.steps:
            number += 1
            s.part, s.number = i, number
    return Course(parts, problems)


def _default(models: list[str], lessons: list[str], layers: list[str] = (), nets: list[str] = ()) -> list[Part]:
    parts = [Part("Models", new=("model",)), Part("Lessons", new=("lesson",))] if lessons else [
        Part("Models", new=("model", "lesson"))
    ]  # fmt: skip
    parts += [Part("Layers", new=("layer",))] if layers else []
    return parts + [Part("Networks", new=("net",))] if nets else parts
