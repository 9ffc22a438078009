"""``vcs-conformance run PLUGIN HOOK ...`` as a plugin author uses it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vcs_conformance import wav
from vcs_conformance.cli import main
from vcs_conformance.workspace import DatasetRow, create_workspace, expected_dataset, write_dataset


def _run(capsys: Any, *argv: str) -> tuple[int, Any, str]:
    code = main(["run", "--env", "current", *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else out), err


def test_synthesize_writes_the_wav_where_asked(capsys: Any, plugin_dir: Any,
                                               tmp_path: Path) -> None:
    out = tmp_path / "hello.wav"
    code, result, _ = _run(capsys, str(plugin_dir("good-1-1")), "synthesize", "Hello",
                           "--voice-config", '{"rate": 1.2}', "--out", str(out))
    assert code == 0
    assert result["sample_rate"] == wav.read_info(out).sample_rate == 16000


def test_preprocess_copies_a_dataset_dir_into_the_workspace(capsys: Any, plugin_dir: Any,
                                                            tmp_path: Path) -> None:
    source = create_workspace(tmp_path / "elsewhere")
    write_dataset(source, "mine", [DatasetRow("x1", "Some words.", sample_rate=8000)])
    ws = tmp_path / "ws"
    code, dataset, _ = _run(capsys, str(plugin_dir("good-1-2")), "preprocess",
                            str(source.datasets / "mine"), "--workspace", str(ws))
    assert code == 0
    assert dataset == expected_dataset(create_workspace(ws), "datasets/mine")


def test_train_reports_progress_and_prints_the_model(capsys: Any, plugin_dir: Any,
                                                     tmp_path: Path) -> None:
    ws = create_workspace(tmp_path / "ws")
    rel = write_dataset(ws, "d", [DatasetRow("a", "One."), DatasetRow("b", "Two.")])
    dataset_file = tmp_path / "dataset.json"
    dataset_file.write_text(json.dumps(expected_dataset(ws, rel)))
    code, model, err = _run(capsys, str(plugin_dir("good-1-0")), "train", str(dataset_file),
                            "--workspace", str(ws.root), "--core-version", "1.1.0")
    assert code == 0 and model["model"].startswith("models/")
    assert "progress 50.0% running" in err and "progress 100.0% running" in err


@pytest.mark.parametrize(("argv", "code", "text"), [
    (["chaos", "synthesize", "raise-runtime"], 1, "[hook-error]"),
    (["chaos", "synthesize", "wav-rate"], 1, "[output-invalid]"),
    (["good-1-0", "synthesize", "Hi"], 1, "[incompatible]"),
    (["chaos", "preprocess", "x"], 2, "provides no 'preprocess' hook"),
    (["chaos", "synthesize", "Hi", "--voice-config", "{bad"], 2, "not strict JSON"),
    (["chaos", "synthesize"], 2, "synthesize takes one argument, TEXT"),
    (["chaos", "synthesize", "Hi", "--core-version", "one"], 2, "not a MAJOR.MINOR"),
])
def test_errors_print_code_and_message(capsys: Any, plugin_dir: Any, argv: list[str],
                                       code: int, text: str) -> None:
    got, _, err = _run(capsys, str(plugin_dir(argv[0])), *argv[1:])
    assert got == code
    assert text in err
    # the plugin's own traceback may be quoted; never one of the kit's
    assert "vcs_conformance/" not in err


def test_progress_bar_redraws_one_line_on_a_terminal() -> None:
    import io

    from vcs_conformance._cli_run import _Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    bar = _Progress(screen)
    bar(50.0, "half way")
    bar(100.0, "done")
    bar.done()
    text = screen.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n")
    assert "[###############...............]  50.0% half way" in text
    assert "[" + "#" * 30 + "] 100.0% done" in text
