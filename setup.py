"""Build hook: copy the project files the code reads into the built package.

``data_manifest.json`` and ``reference/paper_results.csv`` stay where the repository keeps
them (users edit them there). A wheel built from this tree (``pip install .``, ``pip
wheel``, tox) gets a copy under ``anomaly_ref/_project/``, where an installed anomaly-ref
finds them (``anomaly_ref/data/paths.py``); everything else is configured in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
PROJECT_FILES = ("data_manifest.json", "reference/paper_results.csv")  # = anomaly_ref.data.paths.PROJECT_FILES


class BuildPyWithProjectFiles(build_py):
    def run(self):
        super().run()
        if self.editable_mode:  # an editable install runs from the checkout and reads its files
            return
        for name in PROJECT_FILES:
            src = ROOT / name
            if not src.is_file():  # a wheel without them would fail only when used
                raise FileNotFoundError(f"{src}: missing; anomaly-ref's wheel needs it (restore it from git)")
            dst = Path(self.build_lib) / "anomaly_ref" / "_project" / name
            self.mkpath(str(dst.parent))
            self.copy_file(str(src), str(dst))


setup(cmdclass={"build_py": BuildPyWithProjectFiles})
