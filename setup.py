"""Builds the _pickleguard extension with the project's own CMake.

pyproject.toml holds the metadata; this file only teaches setuptools to run
`cmake` (configure, then build the one target) and to take the module it
made. Build products go to build-pip/, never to the release build/.

    python3 -m pip install --no-build-isolation .
    CMAKE_ARGS="-DCMAKE_BUILD_TYPE=Debug" python3 -m pip install --no-build-isolation .
"""
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.install import install

ROOT = pathlib.Path(__file__).resolve().parent


def project_version():
    text = (ROOT / "CMakeLists.txt").read_text()
    return re.search(r"project\(pickleguard\s+VERSION\s+([0-9.]+)", text).group(1)


class CMakeExtension(Extension):
    def __init__(self, name, target):
        super().__init__(name, sources=[])
        self.target = target


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build_dir = pathlib.Path(self.build_temp).resolve() / "cmake"
        build_dir.mkdir(parents=True, exist_ok=True)
        config = "Debug" if self.debug else "Release"
        args = [
            "cmake", "-S", str(ROOT), "-B", str(build_dir),
            f"-DCMAKE_BUILD_TYPE={config}",
            f"-DPython3_EXECUTABLE={sys.executable}",
            "-DPICKLEGUARD_PYTHON=ON",
            "-DPICKLEGUARD_TESTS=OFF",
        ]
        if shutil.which("ninja"):
            args += ["-G", "Ninja"]
        args += shlex.split(os.environ.get("CMAKE_ARGS", ""))
        subprocess.run(args, check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 1))
        subprocess.run(["cmake", "--build", str(build_dir), "--target", ext.target, "--parallel", jobs], check=True)
        built = next((build_dir / "python" / "pickleguard").glob("_pickleguard*.so"), None)
        if built is None:
            sys.exit("setup.py: CMake did not build the _pickleguard module (are pybind11-dev and python3-dev installed?)")
        destination = pathlib.Path(self.get_ext_fullpath(ext.name))
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, destination)


class Install(install):
    # Debian's setuptools (the wheel in /usr/share/python-wheels, which a venv
    # of another Python gets offline) asks the `install` command for Debian's
    # `install_layout` and `prefix_option` options, which only Debian's own
    # distutils defines; on a pyenv Python the wheel build then dies with
    # AttributeError. None is what Debian's distutils gives them too when
    # --install-layout and --prefix are not passed.
    install_layout = None
    prefix_option = None


setup(
    version=project_version(),
    ext_modules=[CMakeExtension("pickleguard._pickleguard", target="_pickleguard")],
    cmdclass={"build_ext": CMakeBuild, "install": Install},
    options={"build": {"build_base": "build-pip"}, "egg_info": {"egg_base": "build-pip"}},
    zip_safe=False,
)
