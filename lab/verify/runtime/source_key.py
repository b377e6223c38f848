"""The program store's key read from source: what a loss's traced program can depend on, without tracing it.

A hash of the bytecode, constants and defaults of the loss and of every function of ours it names,
and the values of the globals they name. Where a value is not understood (a closure, a dict, an
object, a name that reaches values by string), the key falls back to the files the loss reaches;
where even that cannot be told, there is no key and the loss is traced every run.
"""

from __future__ import annotations

import dataclasses
import dis
import functools
import hashlib
import sys
import types

import numpy as np

from lab.verify.runtime.store import file_hash, installed


def code_key(fn) -> str | None:
    """The part of the store's key that stands for ``fn``'s code (see the module's docstring)."""
    if isinstance(fn, functools.partial):
        return _partial_key(fn)
    code = _fingerprint(fn)
    if code is not None:
        return code
    files = _reach(fn)
    if files is None:
        return None
    return ",".join([*sorted(file_hash(f) for f in files), fn.__qualname__, _constants(fn)])


def _partial_key(fn: functools.partial) -> str | None:
    """A ``functools.partial`` of a function of ours (a layer's loss, ⟨dout, forward⟩, bound to the layer's
    module and its input form): the function's key and its bound arguments'. A module argument stands
    for the functions the partial's function reads from it by attribute (``layer.forward``), each by its
    fingerprint: an edit to the layer's ``vjp`` keeps the program, and a module made from edited source
    (a mutant) is keyed by what it holds, not by its file."""
    inner = code_key(fn.func)
    if inner is None or not isinstance(fn.func, types.FunctionType):
        return None
    h = hashlib.sha256(inner.encode())
    reads = set(_names(fn.func.__code__))
    bound = [("", a) for a in fn.args] + [(f"{k}=", v) for k, v in sorted(fn.keywords.items())]
    for label, arg in bound:  # a keyword by its name too: lam=0.5 and alpha=0.5 are not one loss
        h.update(label.encode())
        if isinstance(arg, types.ModuleType):
            for name in sorted(reads):
                member = getattr(arg, name, None)
                if isinstance(member, types.FunctionType) and not installed(member.__code__.co_filename):
                    code = _fingerprint(member)
                    if code is None:
                        return None
                    h.update(f"{name}:{code};".encode())
                elif member is not None and not isinstance(member, types.ModuleType):
                    todo: list = []
                    part = _value(member, todo)  # a network's forward is a partial of lab.net.forward
                    if part is None:
                        return None
                    h.update(f"{name}=".encode() + part)
                    for f in todo:  # the functions it holds, each by its fingerprint
                        code = _fingerprint(f)
                        if code is None:
                            return None
                        h.update(f"{f.__qualname__}:{code};".encode())
            continue
        part = _value(arg, [])
        if part is None:
            return None
        h.update(part)
    return h.hexdigest()


def _names(code: types.CodeType) -> list[str]:
    out: list[str] = []
    _code_bytes(code, out)
    return out


_reached: dict = {}


def _reach(fn) -> list[str] | None:
    if fn not in _reached:
        _reached[fn] = _find_reach(fn)
    return _reached[fn]


def _find_reach(fn) -> list[str] | None:
    """The source files ``fn``'s program can be made of: its own file and, through its module's
    globals, every module, function and class it can reach that is not part of an installed package.

    None when the program may depend on values no file holds: a closure, a ``functools.partial``
    (a model with its hyperparameters bound), or a callable object. Such a loss is traced every run.
    """
    if not isinstance(fn, types.FunctionType) or fn.__closure__:
        return None
    return sorted(_files_reached(fn.__globals__) | {fn.__code__.co_filename})


def _files_reached(namespace: dict) -> set[str]:
    """The files of every module, function and class not of an installed package that ``namespace``
    reaches through globals, transitively."""
    files: set[str] = set()
    todo, seen = [namespace], set()
    while todo:
        ns = todo.pop()
        if id(ns) in seen:
            continue
        seen.add(id(ns))
        for v in list(ns.values()):
            if isinstance(v, types.ModuleType):
                f, inner = getattr(v, "__file__", None), vars(v)
            elif isinstance(v, types.FunctionType):
                f, inner = v.__code__.co_filename, v.__globals__
            elif isinstance(v, type):
                mod = sys.modules.get(v.__module__)
                f, inner = getattr(mod, "__file__", None), vars(mod) if mod else {}
            else:
                continue
            if f and not installed(f) and f not in files:
                files.add(f)
                todo.append(inner)
    return files


def _constants(fn) -> str:
    """``fn``'s defaults and the plain values among the globals it names (a module constant a test may
    change at run time)."""
    out = [repr(fn.__defaults__), repr(fn.__kwdefaults__)]
    for name in fn.__code__.co_names:
        v = fn.__globals__.get(name)
        if isinstance(v, (bool, int, float, complex, str, bytes, tuple, type(None))):
            out.append(f"{name}={v!r}")
        elif isinstance(v, np.ndarray):
            out.append(f"{name}={v.dtype}{v.shape}:{hashlib.sha256(v.tobytes()).hexdigest()}")
    return ";".join(out)


#: Names through which a function can reach values that no name in its code spells out.
_OPAQUE = frozenset({"globals", "vars", "locals", "eval", "exec", "getattr", "__import__", "importlib", "sys"})
_PLAIN = (bool, int, float, complex, str, bytes, type(None), np.generic)


def _fingerprint(fn) -> str | None:
    """A hash of everything ``fn``'s traced program can depend on, read from the functions themselves
    rather than from their files: the bytecode, constants and defaults of ``fn`` and of every function
    of ours it names, and the values of the globals they name. Line numbers, comments, docstrings of
    other functions and the rest of the file are left out, so an edit to ``grad`` (the usual edit)
    keeps the key and the program. A module, class or function of an installed package counts by
    name (its version is in the key). None when a value is not understood (a closure, a dict, an
    object, a name such as ``globals`` that reaches values by string): then the files decide.
    """
    if not isinstance(fn, types.FunctionType):
        return None
    h = hashlib.sha256()
    todo, seen = [fn], set()
    while todo:
        f = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        if f.__closure__:
            return None
        h.update(f"{f.__qualname__}\n".encode())  # not the module's name: a copy of a model file is the same loss
        names: list[str] = []
        h.update(_code_bytes(f.__code__, names, globals_only=True))
        for d in (*(f.__defaults__ or ()), *(f.__kwdefaults__ or {}).items()):
            part = _value(d, todo)
            if part is None:
                return None
            h.update(part)
        for name in names:
            if name in _OPAQUE:
                return None
            if name not in f.__globals__:
                continue  # a builtin, or an attribute's name (xp.exp): it counts where its owner does
            part = _value(f.__globals__[name], todo)
            if part is None:
                return None
            h.update(f"{name}=".encode() + part)
    return h.hexdigest()


def _code_bytes(code: types.CodeType, names: list[str], globals_only: bool = False) -> bytes:
    """The bytecode of ``code`` and of the code nested in it, without file names or line numbers;
    the names it uses are added to ``names``: every name, or with ``globals_only`` the globals it loads
    (``groups.get`` reads an attribute "get", not the module's function ``get``)."""
    out, used = _read_code(code, globals_only)
    names.extend(used)
    return out


@functools.lru_cache(maxsize=4096)  # a code object never changes, and the search asks at every batch
def _read_code(code: types.CodeType, globals_only: bool) -> tuple[bytes, tuple[str, ...]]:
    names: list[str] = []
    return _disassembled(code, names, globals_only), tuple(names)


def _disassembled(code: types.CodeType, names: list[str], globals_only: bool) -> bytes:
    if globals_only:
        names.extend(i.argval for i in dis.get_instructions(code) if i.opname in _GLOBAL_OPS)
    else:
        names.extend(code.co_names)
    parts = [code.co_code, code.co_exceptiontable, repr(code.co_names).encode(), repr(code.co_varnames).encode()]
    parts.append(repr((code.co_argcount, code.co_kwonlyargcount, code.co_posonlyargcount, code.co_flags)).encode())
    for c in code.co_consts:
        nested = _disassembled(c, names, globals_only) if isinstance(c, types.CodeType) else None
        parts.append(nested if nested is not None else f"{type(c).__name__}:{c!r}".encode())
    return b"\0".join(parts)


_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL"})


def _value(v, todo: list) -> bytes | None:
    """What the key holds for a value a function names: None when it cannot tell (see _fingerprint)."""
    if isinstance(v, _PLAIN):
        return f"{type(v).__name__}:{v!r};".encode()
    if isinstance(v, np.ndarray):
        return f"{v.dtype}{v.shape}:{hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()};".encode()
    if dataclasses.is_dataclass(v) and not isinstance(v, type) and v.__dataclass_params__.frozen:
        fields = tuple(getattr(v, f.name) for f in dataclasses.fields(v))
        part = _value(fields, todo)
        return None if part is None else f"{type(v).__qualname__}".encode() + part
    if isinstance(v, functools.partial):  # a function of ours with values bound: both count
        parts = [_value(v.func, todo), _value(tuple(v.args), todo), _value(tuple(sorted(v.keywords.items())), todo)]
        return None if None in parts else b"partial(" + b"".join(parts) + b");"
    if isinstance(v, (tuple, frozenset)):
        parts = [_value(x, todo) for x in (sorted(v, key=repr) if isinstance(v, frozenset) else v)]
        return None if None in parts else b"(" + b"".join(parts) + b");"
    if isinstance(v, types.FunctionType):
        if installed(v.__code__.co_filename):
            return f"{v.__module__}.{v.__qualname__}{_version_of(v.__module__)};".encode()
        todo.append(v)  # hashed in turn, in an order fixed by the code
        return f"def {v.__qualname__};".encode()
    if isinstance(v, types.ModuleType):
        f = getattr(v, "__file__", None)
        if f is None or installed(f):
            return f"module {v.__name__}{_version_of(v.__name__)};".encode()
        reach = _module_reach(v)  # a module of ours: what it holds, by its files
        return f"module {v.__name__}:{','.join(file_hash(x) for x in reach)};".encode()
    if isinstance(v, (type, types.BuiltinFunctionType, np.ufunc)):
        mod = sys.modules.get(getattr(v, "__module__", None) or "")
        f = getattr(mod, "__file__", None)
        if mod is None or f is None or installed(f):
            name = getattr(v, "__module__", None) or ""
            return f"{name}.{getattr(v, '__qualname__', repr(v))}{_version_of(name)};".encode()
        if isinstance(v, type):
            own = _class_value(v, todo)
            if own is not None:
                return own
        return f"{v.__module__}.{v.__qualname__}:{','.join(file_hash(x) for x in _module_reach(mod))};".encode()
    return None


#: A class's own attributes that say nothing a traced program can depend on beyond its fields and methods.
_CLASS_BOOKKEEPING = frozenset(
    {"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__annotations__", "__match_args__",
     "__dataclass_fields__", "__dataclass_params__", "__slots__", "__firstlineno__", "__static_attributes__",
     "__hash__", "__orig_bases__", "__parameters__"}
)  # fmt: skip


#: The methods dataclasses writes.
_GENERATED = frozenset({"__init__", "__repr__", "__eq__", "__lt__", "__le__", "__gt__", "__ge__", "__setattr__",
                        "__delattr__", "__hash__", "__getstate__", "__setstate__"})  # fmt: skip


def _made_by_exec(f) -> bool:
    return isinstance(f, types.FunctionType) and f.__code__.co_filename.startswith("<")


def _class_value(cls: type, todo: list) -> bytes | None:
    """A class of ours by what it holds: its bases, its methods (each by its fingerprint, in turn) and
    its plain class attributes, not by the files its module reaches. Those files change as a program
    runs: a module that imports ``lab.layers`` reaches the package ``lab``, whose namespace gains each
    submodule as it is imported, so a key read from them would differ between the first case of a run
    and the tenth. None when an attribute is not understood (then the files decide)."""
    parts = [f"class {cls.__qualname__}(".encode()]
    for base in cls.__bases__:
        part = b"object;" if base is object else _value(base, todo)
        if part is None:
            return None
        parts.append(part)
    if dataclasses.is_dataclass(cls):  # its generated methods are made from its fields and options
        parts.append(repr(cls.__dataclass_params__).encode())
        for f in dataclasses.fields(cls):
            made = None if f.default_factory is dataclasses.MISSING else f.default_factory
            part = _value((f.name, None if f.default is dataclasses.MISSING else f.default, made), todo)
            if part is None:
                return None
            parts.append(part)
    for name in sorted(vars(cls)):
        if name in _CLASS_BOOKKEEPING:
            continue
        member = vars(cls)[name]
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if name in _GENERATED and dataclasses.is_dataclass(cls) and _made_by_exec(member):
            continue  # made by dataclasses from the fields above
        if isinstance(member, property):
            member = (member.fget, member.fset, member.fdel)
        part = _value(member, todo)
        if part is None:
            return None
        parts.append(f"{name}=".encode() + part)
    return b"".join(parts) + b");"


def _version_of(module: str) -> str:
    """`` version`` of an installed module's package (scikit-learn's, say, which the key's versions lack)."""
    top = sys.modules.get(module.partition(".")[0])
    return f" {getattr(top, '__version__', '')}" if top is not None else ""


def _module_reach(mod: types.ModuleType) -> list[str]:
    """The files of a module of ours and of everything of ours its globals reach."""
    return sorted(_files_reached(vars(mod)) | {mod.__file__})
