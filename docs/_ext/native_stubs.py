"""``.. native-stubs:: path/to/_native.pyi``: the compiled module's API, read from its stubs.

autodoc imports what it documents, and importing ``sigrs._native`` gives
the compiled functions, whose signatures carry no types. The stubs have
them, with the docstrings, but a ``.pyi`` file cannot be imported. This
directive parses the stub file with :mod:`ast` and writes one
``py:function`` / ``py:class`` / ``py:data`` entry per top-level name, in
the stub's order, under the current module (``.. module:: sigrs._native``).
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective


def _signature(fn: ast.FunctionDef) -> str:
    args = ast.unparse(fn.args)
    ret = f" -> {ast.unparse(fn.returns)}" if fn.returns is not None else ""
    return f"{fn.name}({args}){ret}"


def _entries(tree: ast.Module) -> list[str]:
    lines: list[str] = []

    def body(doc: str | None, indent: str) -> None:
        lines.append("")
        for line in inspect.cleandoc(doc or "").splitlines():
            lines.append(indent + line if line else "")
        lines.append("")

    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            lines.append(f".. py:function:: {_signature(node)}")
            body(ast.get_docstring(node), "   ")
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            lines.append(f".. py:class:: {node.name}" + (f"({bases})" if bases else ""))
            body(ast.get_docstring(node), "   ")
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and (not item.name.startswith("_") or item.name == "__init__"):
                    lines.append(f"   .. py:method:: {_signature(item)}")
                    body(ast.get_docstring(item), "      ")
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            if not node.target.id.startswith("_") or node.target.id == "__version__":
                lines.append(f".. py:data:: {node.target.id}")
                lines.append(f"   :type: {ast.unparse(node.annotation)}")
                lines.append("")
    return lines


class NativeStubs(SphinxDirective):
    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        path = (Path(self.env.srcdir) / self.arguments[0]).resolve()
        self.env.note_dependency(str(path))
        lines = _entries(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        content = StringList(lines, source=str(path))
        container = nodes.section()
        container.document = self.state.document
        self.state.nested_parse(content, self.content_offset, container)
        return container.children


def setup(app):
    app.add_directive("native-stubs", NativeStubs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
