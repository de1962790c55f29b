"""The package's layers point one way (DESIGN.md, "Layers").

The package is parsed with ``ast`` (nothing is imported), and every import
of a sigrs module is an edge, at module level or inside a function alike.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "python" / "sigrs"

# The bottom layer: argument checks, array plumbing, shapes, options, the
# native module and the torch op builder. None of them imports a family.
INTERNALS = {
    "sigrs._native", "sigrs._arrays", "sigrs._checks", "sigrs._shapes", "sigrs._options", "sigrs._op_registry",
    "sigrs._device", "sigrs._cuda", "sigrs._torch_ops", "sigrs._progress",
}
COMPATIBILITY = "sigrs.signatory"


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict:
    """Every module's source; the compiled ``_native`` by its stubs (it imports nothing of sigrs)."""
    return {module_name(p): p for p in sorted([*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.pyi")])}


def imports_of(name: str, path: pathlib.Path, known: set) -> set:
    """The sigrs modules ``name`` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            # `from . import x` imports the module x when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            # an import of sigrs.a.b also runs sigrs.a; keep the deepest known module
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t.startswith("sigrs") and t != name:
                found.add(t)
    return found


def graph() -> dict:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def find_cycle(edges: dict) -> list:
    """A cycle as a list of modules, or []."""
    state: dict = {}
    stack: list = []

    def visit(node: str) -> list:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return []

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return []


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_import_parser_sees_imports_inside_functions(tmp_path):
    src = tmp_path / "mod.py"
    src.write_text("def f():\n    from . import other\n    from .inner import x\n    import sigrs.deep.thing\n")
    known = {"sigrs", "sigrs.other", "sigrs.inner", "sigrs.deep", "sigrs.mod"}
    assert imports_of("sigrs.mod", src, known) == {"sigrs.other", "sigrs.inner", "sigrs.deep"}


def test_no_import_cycle_anywhere_in_the_package():
    edges = graph()
    assert len(edges) > 15
    cycle = find_cycle(edges)
    assert not cycle, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("internal", sorted(INTERNALS))
def test_internals_import_no_family(internal):
    edges = graph()
    assert internal in edges
    assert edges[internal] <= INTERNALS, f"{internal} imports {sorted(edges[internal] - INTERNALS)}"


def test_the_torch_op_builder_knows_no_family():
    assert graph()["sigrs._torch_ops"] <= INTERNALS


def test_the_compatibility_package_uses_the_public_api_only():
    edges = graph()
    for name, deps in edges.items():
        if name == COMPATIBILITY or name.startswith(COMPATIBILITY + "."):
            private = sorted(d for d in deps if not d.startswith(COMPATIBILITY) and d.rpartition(".")[2].startswith("_"))
            assert not private, f"{name} imports sigrs internals {private}"


def test_native_stubs_list_every_function_with_its_parameters():
    """_native.pyi documents the extension as it is: the same names, and each
    function's parameters in order (from the compiled signature)."""
    import inspect

    from sigrs import _native

    tree = ast.parse((PACKAGE / "_native.pyi").read_text())
    stubs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    public = {n for n in dir(_native) if not n.startswith("__")} - {"SigrsError", "CudaUnavailableError"}
    assert public <= set(stubs) | {"SigrsError", "CudaUnavailableError"}, sorted(public - set(stubs))
    assert {n for n in stubs if n not in ("SigrsError", "CudaUnavailableError")} <= public
    for name, node in stubs.items():
        if isinstance(node, ast.FunctionDef):
            documented = [a.arg for a in node.args.args + node.args.kwonlyargs]
            compiled = list(inspect.signature(getattr(_native, name)).parameters)
            assert documented == compiled, name
            assert ast.get_docstring(node), f"{name} has no docstring in the stubs"


def test_the_binding_reads_each_options_record_field_by_field_in_order():
    """sig-py reads the records of sigrs._options by position: its field
    lists must be the records' own."""
    from sigrs import _native, _options

    read = _native.record_fields()
    assert len(read) >= 7
    for record, fields in read.items():
        assert list(getattr(_options, record)._fields) == fields, record


# Integrations with optional libraries, and the only modules allowed to import each.
OPTIONAL_INTEGRATIONS = {"sigrs.dask": set(), "sigrs.sklearn": {"sigrs.sktime"}, "sigrs.sktime": set()}


@pytest.mark.parametrize("integration", sorted(OPTIONAL_INTEGRATIONS))
def test_nothing_in_the_package_imports_an_optional_integration(integration):
    """sigrs.dask, sigrs.sklearn and sigrs.sktime need optional libraries; ``import sigrs`` must work without them."""
    edges = graph()
    assert integration in edges
    importers = sorted(name for name, deps in edges.items() if integration in deps)
    assert set(importers) <= OPTIONAL_INTEGRATIONS[integration], f"{integration} is imported by {importers}"
