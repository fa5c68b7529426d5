"""The Python examples of docs/hdf5-schema.md and docs/studies.md run on the files shipped configs write:
runs/deep_sigmoid.h5 (configs/deep_sigmoid.yaml, shortened) and runs/depth (a study folder with a `repeat`
key, here the shortened configs/studies/batchnorm.yaml)."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import SOURCE_DIR


def python_blocks(document):
    with open(os.path.join(SOURCE_DIR, "docs", document), encoding="utf-8") as stream:
        return re.findall(r"```python\n(.*?)```", stream.read(), re.DOTALL)


EXAMPLES = [(document, index) for document in ("hdf5-schema.md", "studies.md")
            for index in range(len(python_blocks(document)))]


@pytest.mark.parametrize("document,index", EXAMPLES)
def test_documented_python_examples_run(document, index, traces, batchnorm_study, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copy(traces["deep"], runs / "deep_sigmoid.h5")
    os.symlink(batchnorm_study, runs / "depth")
    script = tmp_path / "example.py"
    script.write_text(python_blocks(document)[index])
    environment = dict(os.environ, PYTHONPATH=os.path.join(SOURCE_DIR, "python"), MPLBACKEND="Agg")
    process = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                             env=environment, timeout=120)
    assert process.returncode == 0, f"{document} example {index}:\n{process.stdout}\n{process.stderr}"
    assert process.stdout.strip(), "the example printed nothing"
