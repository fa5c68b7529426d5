"""`pip install ./python` works offline: the in-tree build backend needs nothing from a package index."""
import importlib.util
import os
import subprocess
import sys
import tarfile
import zipfile

SOURCE = os.environ.get("GRADLAB_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
PYTHON = os.path.join(SOURCE, "python")


def backend():
    spec = importlib.util.spec_from_file_location("gradlab_backend",
                                                  os.path.join(PYTHON, "build_backend", "gradlab_backend.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_backend_asks_for_nothing_and_builds_a_complete_wheel(tmp_path):
    build = backend()
    assert build.get_requires_for_build_wheel() == []
    name = build.build_wheel(str(tmp_path))
    with zipfile.ZipFile(tmp_path / name) as wheel:
        names = set(wheel.namelist())
        modules = {f"gradlab/{module}" for module in os.listdir(os.path.join(PYTHON, "gradlab")) if module.endswith(".py")}
        assert modules <= names
        metadata = wheel.read("gradlab-0.1.0.dist-info/METADATA").decode()
        assert "Name: gradlab" in metadata and "Requires-Dist: pandas" in metadata
        assert 'Requires-Dist: h5py; extra == "h5py"' in metadata
        record = wheel.read("gradlab-0.1.0.dist-info/RECORD").decode()
        assert all(module in record for module in modules)
    sdist = build.build_sdist(str(tmp_path))
    with tarfile.open(tmp_path / sdist) as archive:
        assert "gradlab-0.1.0/gradlab/trace.py" in archive.getnames()


def test_pip_installs_it_into_a_venv_without_an_index(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    pip = venv / "bin" / "pip"
    done = subprocess.run([str(pip), "install", "--no-index", "--no-cache-dir", PYTHON], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    check = subprocess.run([str(venv / "bin" / "python"), "-c", "import gradlab; print(gradlab.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert str(venv) in check.stdout
