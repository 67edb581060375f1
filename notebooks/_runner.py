"""Run a Databricks notebook (source format) locally, top to bottom, as Databricks would.

    python notebooks/_runner.py notebooks/explore_customer.py --param lakehouse=lakehouse --output-dir reports/notebooks

A notebook in source format starts with ``# Databricks notebook source``; its cells are separated by
``# COMMAND ----------``; a markdown cell is made of ``# MAGIC %md`` lines. Each code cell runs, in order, in
one namespace holding what Databricks provides:

- ``spark``: the active session (``spark_lib.session.get_spark()``: the caller's, or a local Delta session);
- ``dbutils.widgets``: ``text``/``dropdown``/``get``; ``get`` returns the value passed with ``--param
  name=value`` (``parameters=`` in Python), else the widget's default. A parameter no widget declares is an
  error (a typo would otherwise be silently ignored);
- ``display(x)``: a Spark or pandas DataFrame is printed (first rows) and written as an HTML table; an object
  with ``to_html`` (a Splink/Altair chart, a Plotly figure) is written as an HTML page;
- ``displayHTML(html)``: written as an HTML page.

Outputs go to ``output_dir`` as ``NN_<kind>.html`` in display order, and are listed in the returned
:class:`NotebookRun`. A failing cell raises :class:`NotebookCellError` naming the notebook and the cell.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = "# Databricks notebook source"
SEPARATOR = "# COMMAND ----------"
MAX_ROWS = 50


class NotebookCellError(RuntimeError):
    """A cell of a notebook raised: the message names the notebook, the cell and its first line."""


@dataclass
class Output:
    kind: str                  # "table" or "html"
    path: str
    rows: int | None = None    # tables: rows shown (at most MAX_ROWS)
    columns: list[str] = field(default_factory=list)


@dataclass
class NotebookRun:
    notebook: str
    cells: int = 0
    outputs: list[Output] = field(default_factory=list)
    namespace: dict[str, Any] = field(default_factory=dict, repr=False)

    def tables(self) -> list[Output]:
        return [o for o in self.outputs if o.kind == "table"]

    def pages(self) -> list[Output]:
        return [o for o in self.outputs if o.kind == "html"]


class LocalWidgets:
    """The part of ``dbutils.widgets`` notebooks use, answering with the runner's parameters."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self._values = {k: str(v) for k, v in (values or {}).items()}
        self._defaults: dict[str, str] = {}

    def text(self, name: str, defaultValue: str = "", label: str | None = None) -> None:  # noqa: N803 - Databricks' name
        self._defaults[name] = defaultValue

    def dropdown(self, name: str, defaultValue: str, choices, label: str | None = None) -> None:  # noqa: N803
        if name in self._values and self._values[name] not in choices:
            raise ValueError(f"widget {name!r}: {self._values[name]!r} is not one of {list(choices)}")
        self._defaults[name] = defaultValue

    def get(self, name: str) -> str:
        if name not in self._defaults:
            raise ValueError(f"no widget named {name!r} was declared (declared: {', '.join(self._defaults) or 'none'})")
        return self._values.get(name, self._defaults[name])

    def removeAll(self) -> None:  # noqa: N802 - Databricks' name
        self._defaults.clear()

    def undeclared(self) -> list[str]:
        return sorted(set(self._values) - set(self._defaults))


class LocalDbutils:
    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.widgets = LocalWidgets(values)


class LocalDisplay:
    """``display`` and ``displayHTML`` writing into a folder and recording what they showed."""

    def __init__(self, output_dir: Path, run: NotebookRun, echo: bool = True) -> None:
        self.output_dir, self.run, self.echo = output_dir, run, echo
        output_dir.mkdir(parents=True, exist_ok=True)

    def _path(self, kind: str) -> Path:
        return self.output_dir / f"{len(self.run.outputs) + 1:02d}_{kind}.html"

    def display(self, obj: Any, *args, **kwargs) -> None:
        from pyspark.sql import DataFrame

        if isinstance(obj, DataFrame):
            obj = obj.limit(MAX_ROWS).toPandas()
        if hasattr(obj, "to_html") and hasattr(obj, "columns"):  # a pandas DataFrame
            frame = obj.head(MAX_ROWS)
            path = self._path("table")
            path.write_text(frame.to_html(index=False), encoding="utf-8")
            columns = [str(c) for c in frame.columns]
            self.run.outputs.append(Output("table", str(path), rows=len(frame), columns=columns))
            if self.echo:
                print(frame.to_string(index=False, max_colwidth=60) if len(frame) else "(no rows)")
            return
        if hasattr(obj, "to_html"):
            self.display_html(obj.to_html())
            return
        raise TypeError(f"display: cannot show a {type(obj).__name__} locally (a DataFrame or a chart with to_html)")

    def display_html(self, html: str) -> None:
        if not isinstance(html, str):
            raise TypeError(f"displayHTML: expected a string of HTML, got {type(html).__name__}")
        path = self._path("html")
        path.write_text(html, encoding="utf-8")
        self.run.outputs.append(Output("html", str(path)))
        if self.echo:
            print(f"[html: {path} ({len(html):,} characters)]")


def local_globals(spark=None, parameters: dict[str, str] | None = None, output_dir: str | Path | None = None,
                  run: NotebookRun | None = None, echo: bool = True) -> dict[str, Any]:
    """What Databricks gives a notebook, made locally: ``spark``, ``dbutils``, ``display``, ``displayHTML``.

    A notebook opened in a plain Python session (not Databricks, not this runner) calls it for itself.
    """
    from spark_lib.session import get_spark

    run = run or NotebookRun(notebook="interactive")
    folder = Path(output_dir) if output_dir else Path(tempfile.mkdtemp(prefix="rcu-notebook-"))
    shown = LocalDisplay(folder, run, echo=echo)
    return {
        "spark": spark or get_spark(app_name="rcu-notebook"),
        "dbutils": LocalDbutils(parameters),
        "display": shown.display,
        "displayHTML": shown.display_html,
    }


def cells_of(source: str, notebook: str = "notebook") -> list[tuple[str, str]]:
    """``(kind, text)`` per cell: ``"md"`` for markdown cells, ``"python"`` for code."""
    if not source.startswith(HEADER):
        raise ValueError(f"{notebook}: not a Databricks notebook in source format (first line must be {HEADER!r})")
    cells = []
    for text in source[len(HEADER):].split(SEPARATOR):
        lines = [line for line in text.strip().splitlines() if line.strip()]
        if not lines:
            continue
        magics = [line for line in lines if line.startswith("# MAGIC")]
        if magics and len(magics) == len(lines):
            if not lines[0].startswith("# MAGIC %md"):
                raise ValueError(f"{notebook}: only %md magic cells run locally, got {lines[0]!r}")
            cells.append(("md", text))
        else:
            cells.append(("python", text))
    return cells


def run_notebook(path: str | Path, spark=None, parameters: dict[str, str] | None = None,
                 output_dir: str | Path | None = None, echo: bool = True) -> NotebookRun:
    """Execute the notebook at ``path`` top to bottom; return what it displayed.

    Example::

        run = run_notebook("notebooks/explore_customer.py", spark, {"lakehouse": "lakehouse"}, "reports/nb")
        [o.path for o in run.outputs]
    """
    path = Path(path)
    run = NotebookRun(notebook=str(path))
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(path)}
    namespace.update(local_globals(spark, parameters, output_dir, run, echo=echo))
    for index, (kind, text) in enumerate(cells_of(path.read_text(encoding="utf-8"), str(path)), start=1):
        if kind == "md":
            continue
        try:
            exec(compile(text, f"{path} (cell {index})", "exec"), namespace)  # noqa: S102 - running the notebook is the point
        except Exception as error:
            first = text.strip().splitlines()[0]
            message = f"{path}: cell {index} ({first!r}) failed: {type(error).__name__}: {error}"
            raise NotebookCellError(message) from error
        run.cells += 1
    undeclared = namespace["dbutils"].widgets.undeclared()
    if undeclared:
        raise ValueError(f"{path}: parameter(s) {', '.join(undeclared)} match no widget of the notebook")
    run.namespace = namespace
    return run


def main(argv: list[str] | None = None) -> NotebookRun:
    parser = argparse.ArgumentParser(prog="notebooks/_runner.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook", help="a notebook in Databricks source format")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a widget value (repeatable)")
    parser.add_argument("--output-dir",
                        help="where displayed tables and charts are written (default: a temporary folder)")
    args = parser.parse_args(argv)
    parameters = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--param expects NAME=VALUE, got {item!r}")
        parameters[name] = value
    run = run_notebook(args.notebook, parameters=parameters, output_dir=args.output_dir)
    print(f"{run.notebook}: {run.cells} cells, {len(run.outputs)} outputs in "
          f"{Path(run.outputs[0].path).parent if run.outputs else '-'}", file=sys.stderr)
    return run


if __name__ == "__main__":
    main()
