"""Worked examples of the conventions page, computed by sigrs when the docs build.

``write(directory)`` writes ``*.inc`` reST fragments that
``docs/conventions.rst`` includes, so every number on that page is what the
installed sigrs returns (a changed convention changes the page, or fails the
build through the checks below).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import sigrs


def _num(x: float) -> str:
    text = f"{x:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _word(w) -> str:
    return "()" if len(w) == 0 else "(" + ", ".join(str(i) for i in w) + ("," if len(w) == 1 else "") + ")"


def _bracket(b) -> str:
    if isinstance(b, int):
        return str(b)
    return "[" + _bracket(b[0]) + ", " + _bracket(b[1]) + "]"


def _table(header: list[str], rows: list[list[str]], widths: str | None = None) -> list[str]:
    lines = [".. list-table::", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {widths}")
    lines.append("")
    for row in [header] + rows:
        lines.append("   * - " + row[0])
        lines.extend("     - " + cell for cell in row[1:])
    lines.append("")
    return lines


def _layout() -> list[str]:
    path = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]])
    s = sigrs.sig(path, 2, scalar_term=True)
    words = sigrs.words(2, 2)
    assert len(words) == len(s)
    rows = [[str(i), _word(w), str(len(w)), _num(v)] for i, (w, v) in enumerate(zip(words, s))]
    return (["The path ``[[0, 0], [1, 0], [1, 2]]`` (right 1, then up 2), "
             "``sigrs.sig(path, 2, scalar_term=True)``:", ""]
            + _table(["index", "word", "level", "value"], rows, "10 20 10 20"))


def _transforms() -> list[str]:
    x = np.array([[0.0], [1.0], [3.0]])
    out = []
    for title, kw in (("``time_aug=True``", dict(time_aug=True)),
                      ("``lead_lag=True``", dict(lead_lag=True)),
                      ("both (lead-lag first, then time)", dict(lead_lag=True, time_aug=True))):
        t = sigrs.transform_path(x, **kw)
        names = (["lag", "lead"] if kw.get("lead_lag") else ["x"]) + (["time"] if kw.get("time_aug") else [])
        rows = [[str(i)] + [_num(v) for v in point] for i, point in enumerate(t)]
        out += [f"{title}, ``sigrs.transform_path(x, {', '.join(f'{k}=True' for k in kw)})``:", ""]
        out += _table(["point"] + names, rows)
    return out


def _bases() -> list[str]:
    d, n = 3, 3
    path = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.5], [1.0, 2.0, 0.0], [0.0, 1.0, 1.0]])
    words = sigrs.lyndon_words(d, n)
    brackets = sigrs.lyndon_brackets(d, n)
    hall = sigrs.hall_basis(d, n)
    by_words = sigrs.log_sig(path, n, method="words")
    lyndon = sigrs.log_sig(path, n, method="lyndon")
    in_hall = sigrs.log_sig(path, n, method="hall")
    expanded = sigrs.log_sig(path, n, method="expanded")
    all_words = sigrs.words(d, n)[1:]                   # the expanded layout: no scalar term
    # method 1 reads the expanded logarithm at the Lyndon words
    assert np.allclose(by_words, [expanded[all_words.index(w)] for w in words])
    # every form describes the same Lie element: back to the signature
    for method, values in ((1, by_words), (2, lyndon), ("hall", in_hall), (0, expanded)):
        assert np.allclose(sigrs.logsig_to_sig(values, d, n, method=method), sigrs.sig(path, n))
    rows = [[str(i), _word(words[i]), _num(by_words[i]), _bracket(brackets[i]), _num(lyndon[i]), _bracket(hall[i]),
             _num(in_hall[i])] for i in range(len(words))]
    lines = ["The path ``[[0, 0, 0], [1, 0, 0.5], [1, 2, 0], [0, 1, 1]]`` in dimension 3, degree 3 "
             f"({len(words)} = ``sigrs.log_sig_length(3, 3)`` coordinates; the expanded form has "
             f"{len(expanded)}):", ""]
    lines += _table(["#", "Lyndon word", "method 1 (``\"words\"``)", "Lyndon bracket",
                     "method 2 (``\"lyndon\"``)", "Hall bracket", "``\"hall\"``"], rows)
    differ = [i for i in range(len(words)) if not np.isclose(by_words[i], lyndon[i])]
    lines += [f"Methods 1 and 2 agree up to degree 2 and differ here at "
              f"{', '.join('``' + _word(words[i]) + '``' for i in differ)}: the bracket of one Lyndon "
              "word, expanded, has non-zero coefficients at other Lyndon words of the same length "
              f"(``[0, [1, 2]] = 012 - 021 - 120 + 210`` reaches the Lyndon word ``021``), so the "
              "coefficients at the words are not the coordinates in the basis.", ""]
    nonzero = [(w, v) for w, v in zip(all_words, expanded) if len(w) == 2]
    lines += ["Method 0 (``\"expanded\"``) is the whole tensor logarithm in the signature's layout; "
              "its level 2 here:", ""]
    lines += _table(["word"] + [_word(w) for w, _ in nonzero], [["value"] + [_num(v) for _, v in nonzero]])
    return lines


def write(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, lines in (("layout", _layout()), ("transforms", _transforms()), ("bases", _bases())):
        text = "\n".join(lines) + "\n"
        target = directory / f"{name}.inc"
        # rewrite only on change, so Sphinx does not rebuild the page for nothing
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
