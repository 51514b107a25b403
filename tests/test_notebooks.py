"""The course's notebooks (notebooks/, one per chapter): committed without outputs, and each run
top to bottom in a real Jupyter kernel, in a folder of its own, failing on any cell's error."""

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


def test_the_chapters_are_there_in_order():
    assert [path.name[:2] for path in NOTEBOOKS] == sorted(path.name[:2] for path in NOTEBOOKS)
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_notebook_is_committed_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    left = [index for index, cell in enumerate(book.cells) if cell.cell_type == "code"
            and (cell.outputs or cell.execution_count is not None)]
    assert left == [], f"{path.name}: cells {left} keep outputs; clear them before committing"
    assert book.metadata.kernelspec.name == "python3"


def test_a_notebook_with_outputs_is_found(tmp_path):
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    book.cells[0].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"},
                                                    execution_count=1)]
    book.cells[0].execution_count = 1
    book.metadata.kernelspec = {"name": "python3", "display_name": "Python 3",
                                "language": "python"}
    nbformat.write(book, tmp_path / "99_left.ipynb")
    with pytest.raises(AssertionError, match="cells \\[0\\] keep outputs"):
        test_a_notebook_is_committed_without_outputs(tmp_path / "99_left.ipynb")


@pytest.mark.slow
@pytest.mark.usefixtures("fashion_mnist")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_a_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # a cell's kept source goes there
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [output for cell in book.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert errors == []
    shown = [output for cell in book.cells if cell.cell_type == "code" for output in cell.outputs]
    assert shown, f"{path.name} showed nothing"
